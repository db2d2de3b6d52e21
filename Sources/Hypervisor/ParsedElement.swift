import Foundation

#if canImport(FoundationXML)
    import FoundationXML
#endif

/// A read-only, Sendable XML element tree built from Foundation's `XMLParser` (libxml2
/// underneath), used to read libvirt's live domain XML and metadata.
struct ParsedElement: Sendable, Hashable {
    /// Qualified name as written (`qemu:commandline`).
    let name: String
    /// Name without prefix (`commandline`).
    let localName: String
    /// Namespace URI, nil for libvirt's own (unnamespaced) elements.
    let namespaceURI: String?
    let attributes: [String: String]
    /// Concatenated text content of the element and its descendants, trimmed.
    let text: String
    let children: [ParsedElement]

    /// Parses `xml` into a tree with a strict, non-recovering SAX parse (`XMLParser`): no
    /// external entities, no network, and any well-formedness error refuses the whole text.
    ///
    /// - Throws: `HypervisorError.Code.malformedXML` when the text is not well-formed XML.
    static func parse(_ xml: String) throws(HypervisorError) -> ParsedElement {
        let parser = XMLParser(data: Data(xml.utf8))
        parser.shouldProcessNamespaces = true
        parser.shouldResolveExternalEntities = false
        let builder = TreeBuilder()
        parser.delegate = builder
        guard parser.parse(), builder.failure == nil, let root = builder.root else {
            let detail = builder.failure ?? parser.parserError.map { "\($0.localizedDescription)" } ?? "no root element"
            throw HypervisorError(.malformedXML, "XML is not well-formed: \(detail)")
        }
        return root
    }

    init(
        name: String, localName: String, namespaceURI: String?, attributes: [String: String], text: String,
        children: [ParsedElement]
    ) {
        self.name = name
        self.localName = localName
        self.namespaceURI = namespaceURI
        self.attributes = attributes
        self.text = text
        self.children = children
    }

    /// The first child with local name `localName`.
    func child(_ localName: String) -> ParsedElement? {
        children.first { $0.localName == localName }
    }

    /// All children with local name `localName`.
    func children(_ localName: String) -> [ParsedElement] {
        children.filter { $0.localName == localName }
    }

    /// The attribute's value, or nil.
    subscript(attribute: String) -> String? { attributes[attribute] }
}

/// Builds `ParsedElement`s from SAX callbacks; one instance per parse, used on one thread.
private final class TreeBuilder: NSObject, XMLParserDelegate {
    private struct OpenElement {
        var name: String
        var localName: String
        var namespaceURI: String?
        var attributes: [String: String]
        var text = ""
        var children: [ParsedElement] = []
    }

    private var stack: [OpenElement] = []
    private(set) var root: ParsedElement?
    private(set) var failure: String?

    func parser(
        _ parser: XMLParser, didStartElement elementName: String, namespaceURI: String?,
        qualifiedName: String?, attributes: [String: String] = [:]
    ) {
        stack.append(
            OpenElement(
                name: qualifiedName ?? elementName, localName: elementName,
                namespaceURI: (namespaceURI?.isEmpty ?? true) ? nil : namespaceURI, attributes: attributes))
    }

    func parser(_ parser: XMLParser, foundCharacters string: String) {
        if !stack.isEmpty { stack[stack.count - 1].text += string }
    }

    func parser(
        _ parser: XMLParser, didEndElement elementName: String, namespaceURI: String?, qualifiedName: String?
    ) {
        guard let open = stack.popLast() else { return }
        let descendantsText = open.children.map(\.text).joined()
        let element = ParsedElement(
            name: open.name, localName: open.localName, namespaceURI: open.namespaceURI,
            attributes: open.attributes,
            text: (open.text + descendantsText).trimmingCharacters(in: .whitespacesAndNewlines),
            children: open.children)
        if stack.isEmpty {
            root = element
        } else {
            stack[stack.count - 1].children.append(element)
        }
    }

    func parser(_ parser: XMLParser, parseErrorOccurred parseError: Error) {
        failure = failure ?? parseError.localizedDescription
    }
}

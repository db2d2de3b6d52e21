#if canImport(FoundationXML)
import FoundationXML
#else
import Foundation
#endif

/// A read-only, Sendable copy of an XML element tree parsed by Foundation's XML parser
/// (libxml2 underneath), used to read libvirt's live domain XML and metadata.
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

    /// Parses `xml` into a tree.
    ///
    /// - Throws: `HypervisorError.Code.malformedXML` when the text is not well-formed XML.
    static func parse(_ xml: String) throws(HypervisorError) -> ParsedElement {
        let document: XMLDocument
        do {
            // No entity loading and no network: libvirt's XML never needs either.
            document = try XMLDocument(xmlString: xml, options: [])
        } catch {
            throw HypervisorError(.malformedXML, "XML is not well-formed: \(error.localizedDescription)")
        }
        guard let root = document.rootElement() else {
            throw HypervisorError(.malformedXML, "XML has no root element")
        }
        return ParsedElement(root)
    }

    private init(_ element: XMLElement) {
        name = element.name ?? ""
        localName = element.localName ?? name
        let uri = element.uri
        namespaceURI = (uri?.isEmpty ?? true) ? nil : uri
        var attributes: [String: String] = [:]
        for attribute in element.attributes ?? [] {
            if let attributeName = attribute.name { attributes[attributeName] = attribute.stringValue ?? "" }
        }
        self.attributes = attributes
        text = (element.stringValue ?? "").trimmingCharacters(in: .whitespacesAndNewlines)
        children = (element.children ?? []).compactMap { $0 as? XMLElement }.map(ParsedElement.init)
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

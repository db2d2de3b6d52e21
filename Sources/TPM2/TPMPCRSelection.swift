internal import CTSS2

/// The PCRs selected in one bank (`TPMS_PCR_SELECTION`).
public struct TPMPCRSelection: Hashable, Sendable, CustomStringConvertible {
    /// The bank's hash algorithm.
    public let bank: TPMAlgorithmID
    /// PCR indexes a PC Client TPM has per bank (0 to 23).
    public static let maximumIndexCount = 24

    /// The selected PCR indexes, ascending: the order in which a quote digests their values.
    public let indexes: [Int]

    /// Creates a selection.
    /// - Parameters:
    ///   - bank: the bank's hash algorithm.
    ///   - indexes: PCR indexes in any order; duplicates collapse.
    public init(bank: TPMAlgorithmID, indexes: some Sequence<Int>) {
        self.bank = bank
        self.indexes = Array(Set(indexes)).sorted()
    }

    /// `sha256:0,4,9`, as tpm2-tools writes selections.
    public var description: String {
        "\(bank):" + indexes.map(String.init).joined(separator: ",")
    }

    init(_ selection: TPMS_PCR_SELECTION) {
        let bitmap = prefixBytes(of: selection.pcrSelect, count: Int(selection.sizeofSelect))
        var selected: [Int] = []
        for (byteIndex, byte) in bitmap.enumerated() {
            for bit in 0..<8 where byte & (1 << bit) != 0 {
                selected.append(byteIndex * 8 + bit)
            }
        }
        self.init(bank: TPMAlgorithmID(rawValue: selection.hash), indexes: selected)
    }

    /// Parses a complete `TPML_PCR_SELECTION` encoding.
    /// - Parameter bytes: the encoding (count, then each bank's hash, size and bitmap).
    /// - Returns: the banks in encoding order, each with its indexes ascending.
    /// - Throws: ``TPMStructureError`` when the encoding is truncated, malformed or has trailing bytes.
    public static func parseList(_ bytes: [UInt8]) throws(TPMStructureError) -> [TPMPCRSelection] {
        var list = TPML_PCR_SELECTION()
        try parseComplete(
            bytes, into: &list, what: "PCR selection list", maximumSize: 4 + 16 * 7,
            unmarshal: Tss2_MU_TPML_PCR_SELECTION_Unmarshal, marshal: Tss2_MU_TPML_PCR_SELECTION_Marshal)
        return selections(in: list)
    }

    static func selections(in list: TPML_PCR_SELECTION) -> [TPMPCRSelection] {
        let count = min(Int(list.count), Int(TPM2_NUM_PCR_BANKS))
        return withUnsafeBytes(of: list.pcrSelections) { raw in
            (0..<count).map { index in
                TPMPCRSelection(raw.load(fromByteOffset: index * MemoryLayout<TPMS_PCR_SELECTION>.stride,
                                         as: TPMS_PCR_SELECTION.self))
            }
        }
    }
}

import Foundation
import Testing
@testable import ShardCrypto

/// Every subset of `size` elements of `items`, in order: tests use it to show that
/// *every* threshold set works and *no* smaller set does.
func subsets<T>(of items: [T], size: Int) -> [[T]] {
    guard size > 0 else { return [[]] }
    guard items.count >= size else { return [] }
    let head = items[0]
    let tail = Array(items.dropFirst())
    return subsets(of: tail, size: size - 1).map { [head] + $0 } + subsets(of: tail, size: size)
}

/// Decodes hex from a vector file, failing the test (not crashing) on a typo.
func bytes(_ hex: String) throws -> [UInt8] { try #require([UInt8](hexString: hex), "bad hex in vector: \(hex)") }

/// A file from `Tests/ShardCryptoTests/Resources` (sources in `VECTORS-SOURCES.md`).
func vectorResource(_ name: String) throws -> Data {
    let url = try #require(
        Bundle.module.url(forResource: "Resources/\(name)", withExtension: nil), "test resource \(name) is not bundled")
    return try Data(contentsOf: url)
}

import Foundation
import Hypervisor
import Testing

/// A domain name no other test (or parallel test process) uses.
func uniqueDomainName(_ purpose: String) -> String {
    "keyshard-test-\(purpose)-\(UUID().uuidString.prefix(8).lowercased())"
}

/// The smallest domain the test driver accepts, for tests about handles and events rather than XML.
func minimalTestDomainXML(name: String) -> String {
    """
    <domain type='test'>
      <name>\(name)</name>
      <memory unit='MiB'>64</memory>
      <os><type>hvm</type></os>
    </domain>
    """
}

/// Destroys a domain if it still runs; tests call it in `defer` so no domain outlives a test.
func destroyIfRunning(_ domain: Domain) {
    if (try? domain.isActive()) == true { try? domain.destroy() }
}

/// Waits for the first element matching `predicate`, or nil after `seconds` (a hang guard,
/// not a timing assertion).
func firstElement<Element: Sendable>(
    of stream: AsyncStream<Element>, within seconds: Int = 20,
    where predicate: @escaping @Sendable (Element) -> Bool
) async -> Element? {
    await withTaskGroup(of: Element?.self) { group in
        group.addTask {
            for await element in stream where predicate(element) { return element }
            return nil
        }
        group.addTask {
            try? await Task.sleep(for: .seconds(seconds))
            return nil
        }
        let first = await group.next() ?? nil
        group.cancelAll()
        return first
    }
}

/// Path of a file under Tests/HypervisorTests/Resources.
func resourcePath(_ name: String) throws -> String {
    let url = try #require(Bundle.module.url(forResource: "Resources/\(name)", withExtension: nil))
    return url.path
}

/// Waits (bounded) until some `LibvirtEventLoop` has started its thread.
func waitUntilEventLoopRuns() async throws {
    for _ in 0..<400 where !LibvirtEventLoop.isRunning {
        try await Task.sleep(for: .milliseconds(5))
    }
    try #require(LibvirtEventLoop.isRunning, "event loop did not start")
}

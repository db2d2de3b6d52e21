import Foundation
import Hypervisor
import ServiceLifecycleTestKit
import Testing

/// Against a real libvirtd (the tests' own, see `PrivateLibvirtd`): keepalive is granted,
/// lifecycle events cross the remote protocol, and a daemon restart is survived by reconnecting.
/// Part of `EventLoopTests` because the libvirt event loop is process-wide.
extension EventLoopTests {
    @Test(.enabled(if: PrivateLibvirtd.isAvailable, "needs root and libvirtd"), .timeLimit(.minutes(1)))
    func reconnectsAfterLibvirtdRestarts() async throws {
        let daemon = try PrivateLibvirtd()
        try await daemon.start()
        defer { daemon.killIfRunning() }
        let loop = LibvirtEventLoop()
        try await testGracefulShutdown { trigger in
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask { try await loop.run() }
                try await waitUntilEventLoopRuns()

                let holder = ReconnectingConnection(uri: daemon.uri)
                let first = try holder.connection()
                #expect(try first.enableKeepAlive(interval: 1, count: 2) == .enabled)

                // Lifecycle events travel through the daemon's remote protocol too.
                let events = try first.lifecycleEvents()
                let name = uniqueDomainName("remote")
                let domain = try first.createTransientDomain(xml: minimalTestDomainXML(name: name))
                let started = await firstElement(of: events) { $0.domainName == name }
                #expect(started?.kind == .started)
                #expect(started?.connectionURI == daemon.uri)
                try domain.destroy()

                try await daemon.stop()
                // The remote driver notices the closed socket through the event loop.
                for _ in 0..<200 where first.isAlive { try await Task.sleep(for: .milliseconds(100)) }
                #expect(!first.isAlive)
                let lost = #expect(throws: LibvirtError.self) { try first.hostname() }
                #expect(lost?.isConnectionLost == true, "\(String(describing: lost))")

                try await daemon.start()
                let second = try holder.connection()
                #expect(second !== first)
                #expect(second.isAlive)
                #expect(holder.generation == 2)
                #expect(try second.activeDomains().map(\.name) == ["test"])

                try await daemon.stop()
                trigger.triggerGracefulShutdown()
                try await group.waitForAll()
            }
        }
    }
}

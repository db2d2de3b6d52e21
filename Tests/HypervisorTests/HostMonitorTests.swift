import Hypervisor
import Logging
import ServiceLifecycle
import Testing

/// Collects a monitor's events so a test can wait (bounded) for the one it expects.
actor EventRecorder {
    private(set) var events: [HostEvent] = []

    func record(_ event: HostEvent) { events.append(event) }

    /// Waits until an event matches, polling; nil after `seconds` (a hang guard only).
    func waitFor(within seconds: Int = 20, _ predicate: @Sendable (HostEvent) -> Bool) async -> HostEvent? {
        for _ in 0..<(seconds * 20) {
            if let match = events.first(where: predicate) { return match }
            try? await Task.sleep(for: .milliseconds(50))
        }
        return events.first(where: predicate)
    }

    /// Waits until at least `count` events match; false after `seconds`.
    func waitUntil(count: Int, of predicate: @Sendable (HostEvent) -> Bool, within seconds: Int = 20) async -> Bool {
        for _ in 0..<(seconds * 20) {
            if events.count(where: predicate) >= count { return true }
            try? await Task.sleep(for: .milliseconds(50))
        }
        return events.count(where: predicate) >= count
    }

    func count(_ predicate: @Sendable (HostEvent) -> Bool) -> Int { events.count(where: predicate) }
}

private func isConnected(generation: Int) -> @Sendable (HostEvent) -> Bool {
    { if case .connected(_, generation) = $0 { true } else { false } }
}

private func isStarted(_ name: String) -> @Sendable (HostEvent) -> Bool {
    { if case .lifecycle(let event) = $0 { event.domainName == name && event.kind == .started } else { false } }
}

private let isLost: @Sendable (HostEvent) -> Bool = { if case .connectionLost = $0 { true } else { false } }

/// Runs the event loop and `monitor` in one ServiceGroup, records the monitor's events, runs
/// `body`, then shuts the group down gracefully and checks the event stream finished.
private func withMonitoredHost(
    _ monitor: HostMonitor, _ body: (EventRecorder) async throws -> Void
) async throws {
    let recorder = EventRecorder()
    let group = ServiceGroup(
        configuration: .init(
            services: [.init(service: LibvirtEventLoop()), .init(service: monitor)], logger: Logger(label: "test")))
    try await withThrowingTaskGroup(of: Void.self) { tasks in
        tasks.addTask { try await group.run() }
        tasks.addTask { for await event in monitor.events { await recorder.record(event) } }
        try await body(recorder)
        await group.triggerGracefulShutdown()
        try await tasks.waitForAll()
    }
}

extension EventLoopTests {
    @Test(.timeLimit(.minutes(1)))
    func monitorReportsConnectionAndLifecycleEvents() async throws {
        let monitor = HostMonitor(uri: "test:///default", retryInterval: .milliseconds(100))
        try await withMonitoredHost(monitor) { recorder in
            #expect(await recorder.waitFor(isConnected(generation: 1)) != nil)
            let connection = try Connection(uri: "test:///default")
            let domain = try connection.createTransientDomain(
                xml: minimalTestDomainXML(name: uniqueDomainName("monitor")))
            defer { destroyIfRunning(domain) }
            #expect(await recorder.waitFor(isStarted(domain.name)) != nil)
            #expect(await recorder.count(isLost) == 0)
        }
    }

    @Test(.timeLimit(.minutes(1)))
    func monitorKeepsRetryingAnUnreachableHost() async throws {
        let monitor = HostMonitor(uri: "test:///nonexistent/keyshard-monitor.xml", retryInterval: .milliseconds(50))
        try await withMonitoredHost(monitor) { recorder in
            let lost = await recorder.waitFor {
                if case .connectionLost(_, let error?) = $0 { error.operation == "virConnectOpen" } else { false }
            }
            #expect(lost != nil)
            // It retries rather than giving up after the first failure.
            #expect(await recorder.waitUntil(count: 3, of: isLost))
            #expect(await recorder.count { if case .connected = $0 { true } else { false } } == 0)
        }
    }

    @Test(.enabled(if: PrivateLibvirtd.isAvailable, "needs root and libvirtd"), .timeLimit(.minutes(1)))
    func monitorResubscribesAfterLibvirtdRestarts() async throws {
        let daemon = try PrivateLibvirtd()
        try await daemon.start()
        defer { daemon.killIfRunning() }
        let monitor = HostMonitor(uri: daemon.uri, retryInterval: .milliseconds(200))
        try await withMonitoredHost(monitor) { recorder in
            #expect(await recorder.waitFor(isConnected(generation: 1)) != nil)

            try await daemon.stop()
            #expect(await recorder.waitFor(isLost) != nil)

            try await daemon.start()
            #expect(await recorder.waitFor(isConnected(generation: 2)) != nil)
            // Events flow on the new connection: the subscription was renewed, not lost.
            let connection = try Connection(uri: daemon.uri)
            let name = uniqueDomainName("after-restart")
            let domain = try connection.createTransientDomain(xml: minimalTestDomainXML(name: name))
            defer { destroyIfRunning(domain) }
            #expect(await recorder.waitFor(isStarted(name)) != nil)
            try await daemon.stop()
        }
    }
}

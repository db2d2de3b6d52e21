import Hypervisor
import Logging
import ServiceLifecycle
import ServiceLifecycleTestKit
import Testing

/// The libvirt event loop is process-wide: these tests run one at a time.
@Suite(.serialized, .timeLimit(.minutes(2))) struct EventLoopTests {
    @Test func lifecycleEventsArriveForCreateAndDestroy() async throws {
        let loop = LibvirtEventLoop()
        try await testGracefulShutdown { trigger in
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask { try await loop.run() }

                let connection = try Connection(uri: "test:///default")
                let events = try connection.lifecycleEvents()
                let name = uniqueDomainName("events")
                let domain = try connection.createTransientDomain(xml: minimalTestDomainXML(name: name))
                defer { destroyIfRunning(domain) }

                let started = await firstElement(of: events) { $0.domainName == name }
                #expect(started?.kind == .started)
                #expect(started?.domainUUID == domain.uuid)
                #expect(started?.connectionURI == "test:///default")
                #expect(started?.meansCustodianLost == false)

                try domain.destroy()
                let stopped = await firstElement(of: events) { $0.domainName == name }
                #expect(stopped?.kind == .stopped(.destroyed))
                #expect(stopped?.meansCustodianLost == true)

                trigger.triggerGracefulShutdown()
                try await group.waitForAll()
            }
        }
        #expect(!LibvirtEventLoop.isRunning)
    }

    @Test func eventsOfOtherDomainsAreNotMistakenForOurs() async throws {
        let loop = LibvirtEventLoop()
        try await testGracefulShutdown { trigger in
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask { try await loop.run() }
                let connection = try Connection(uri: "test:///default")
                let events = try connection.lifecycleEvents()
                let first = try connection.createTransientDomain(
                    xml: minimalTestDomainXML(name: uniqueDomainName("first")))
                let second = try connection.createTransientDomain(
                    xml: minimalTestDomainXML(name: uniqueDomainName("second")))
                defer {
                    destroyIfRunning(first)
                    destroyIfRunning(second)
                }
                try second.destroy()
                // Other suites stop domains on the shared test:///default too: look at ours only.
                let ours: Set = [first.name, second.name]
                let seen = await firstElement(of: events) { $0.meansCustodianLost && ours.contains($0.domainName) }
                #expect(seen?.domainName == second.name)
                #expect(try first.isActive())
                trigger.triggerGracefulShutdown()
                try await group.waitForAll()
            }
        }
    }

    @Test func aSecondLoopInTheSameProcessIsRefused() async throws {
        let loop = LibvirtEventLoop()
        try await testGracefulShutdown { trigger in
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask { try await loop.run() }
                // Wait until the first loop holds the process-wide slot.
                try await waitUntilEventLoopRuns()
                let error = await #expect(throws: HypervisorError.self) { try await LibvirtEventLoop().run() }
                #expect(error?.code == .eventLoopAlreadyRunning)
                trigger.triggerGracefulShutdown()
                try await group.waitForAll()
            }
        }
    }

    @Test func cancellationStopsTheLoopThread() async throws {
        let loop = LibvirtEventLoop()
        let task = Task { try await loop.run() }
        try await waitUntilEventLoopRuns()
        task.cancel()
        try await task.value
        #expect(!LibvirtEventLoop.isRunning)
    }

    @Test func runsInsideAServiceGroupAndStopsOnGracefulShutdown() async throws {
        let loop = LibvirtEventLoop()
        let group = ServiceGroup(
            configuration: .init(services: [.init(service: loop)], logger: Logger(label: "test")))
        try await withThrowingTaskGroup(of: Void.self) { tasks in
            tasks.addTask { try await group.run() }
            try await waitUntilEventLoopRuns()
            await group.triggerGracefulShutdown()
            try await tasks.waitForAll()
        }
        #expect(!LibvirtEventLoop.isRunning)
    }
}

internal import CLibvirt

/// A domain lifecycle event (`VIR_DOMAIN_EVENT_ID_LIFECYCLE`): a domain started, stopped,
/// crashed, … on the host of `connectionURI`.
public struct DomainLifecycleEvent: Sendable, Hashable, CustomStringConvertible {
    /// Why a domain stopped (`virDomainEventStoppedDetailType`).
    public enum StopReason: Sendable, Hashable {
        /// Normal shutdown.
        case shutdown
        /// Destroyed by the host (power cut).
        case destroyed
        /// The guest crashed.
        case crashed
        /// Migrated away.
        case migrated
        /// Saved to a state file.
        case saved
        /// The emulator or management failed.
        case failed
        /// An offline snapshot was loaded.
        case fromSnapshot
        /// A detail this version does not know.
        case other(Int32)
    }

    /// What happened (`virDomainEventType`, with the stop detail decoded).
    public enum Kind: Sendable, Hashable {
        /// Defined persistently.
        case defined
        /// Undefined.
        case undefined
        /// Started.
        case started
        /// Paused.
        case suspended
        /// Resumed.
        case resumed
        /// Stopped, and why.
        case stopped(StopReason)
        /// The guest began or finished shutting down (the domain may still exist).
        case shutdown
        /// Suspended by guest power management.
        case pmSuspended
        /// The guest panicked.
        case crashed
        /// An event type this version does not know.
        case other(Int32)
    }

    /// URI of the connection that reported it, so streams of several hosts can be merged.
    public let connectionURI: String
    /// The domain's name.
    public let domainName: String
    /// The domain's UUID.
    public let domainUUID: String
    /// What happened.
    public let kind: Kind
    /// libvirt's raw detail number for `kind` (meaning depends on the event type).
    public let detail: Int32

    /// An event from its parts.
    public init(connectionURI: String, domainName: String, domainUUID: String, kind: Kind, detail: Int32) {
        self.connectionURI = connectionURI
        self.domainName = domainName
        self.domainUUID = domainUUID
        self.kind = kind
        self.detail = detail
    }

    /// Whether the domain is gone or no longer usable (stopped for any reason, or crashed):
    /// a custodian that reports this lost its shares.
    public var meansCustodianLost: Bool {
        switch kind {
        case .stopped, .crashed: true
        default: false
        }
    }

    public var description: String { "\(domainName) (\(domainUUID)) on \(connectionURI): \(kind)" }

    static func decode(event: Int32, detail: Int32) -> Kind {
        switch UInt32(bitPattern: event) {
        case VIR_DOMAIN_EVENT_DEFINED.rawValue: return .defined
        case VIR_DOMAIN_EVENT_UNDEFINED.rawValue: return .undefined
        case VIR_DOMAIN_EVENT_STARTED.rawValue: return .started
        case VIR_DOMAIN_EVENT_SUSPENDED.rawValue: return .suspended
        case VIR_DOMAIN_EVENT_RESUMED.rawValue: return .resumed
        case VIR_DOMAIN_EVENT_STOPPED.rawValue: return .stopped(decodeStop(detail))
        case VIR_DOMAIN_EVENT_SHUTDOWN.rawValue: return .shutdown
        case VIR_DOMAIN_EVENT_PMSUSPENDED.rawValue: return .pmSuspended
        case VIR_DOMAIN_EVENT_CRASHED.rawValue: return .crashed
        default: return .other(event)
        }
    }

    private static func decodeStop(_ detail: Int32) -> StopReason {
        switch UInt32(bitPattern: detail) {
        case VIR_DOMAIN_EVENT_STOPPED_SHUTDOWN.rawValue: .shutdown
        case VIR_DOMAIN_EVENT_STOPPED_DESTROYED.rawValue: .destroyed
        case VIR_DOMAIN_EVENT_STOPPED_CRASHED.rawValue: .crashed
        case VIR_DOMAIN_EVENT_STOPPED_MIGRATED.rawValue: .migrated
        case VIR_DOMAIN_EVENT_STOPPED_SAVED.rawValue: .saved
        case VIR_DOMAIN_EVENT_STOPPED_FAILED.rawValue: .failed
        case VIR_DOMAIN_EVENT_STOPPED_FROM_SNAPSHOT.rawValue: .fromSnapshot
        default: .other(detail)
        }
    }
}

/// Owns the stream's continuation while libvirt holds a pointer to it (released by libvirt's
/// free callback after deregistration).
private final class LifecycleEventSink: Sendable {
    let continuation: AsyncStream<DomainLifecycleEvent>.Continuation
    let connectionURI: String

    init(continuation: AsyncStream<DomainLifecycleEvent>.Continuation, connectionURI: String) {
        self.continuation = continuation
        self.connectionURI = connectionURI
    }
}

extension Connection {
    /// Subscribes to lifecycle events of every domain on this connection.
    ///
    /// Events arrive only while a `LibvirtEventLoop` runs. The subscription ends (and is
    /// deregistered from libvirt) when the stream is dropped or its consuming task cancelled.
    /// After a reconnect, subscribe again on the new connection.
    ///
    /// - Returns: an unbounded stream (lifecycle events are rare; none may be dropped).
    /// - Throws: `LibvirtError` (operation `virConnectDomainEventRegisterAny`).
    public func lifecycleEvents() throws(LibvirtError) -> AsyncStream<DomainLifecycleEvent> {
        let (stream, continuation) = AsyncStream.makeStream(
            of: DomainLifecycleEvent.self, bufferingPolicy: .unbounded)
        let sink = Unmanaged.passRetained(LifecycleEventSink(continuation: continuation, connectionURI: uri))
        let callbackID = CLibvirt_registerLifecycleEvents(
            handle,
            { _, domain, event, detail, opaque in
                guard let domain, let opaque else { return 0 }
                let sink = Unmanaged<LifecycleEventSink>.fromOpaque(opaque).takeUnretainedValue()
                let name = virDomainGetName(domain).map { String(cString: $0) } ?? ""
                var uuidBuffer = [CChar](repeating: 0, count: Int(VIR_UUID_STRING_BUFLEN))
                let uuid =
                    virDomainGetUUIDString(domain, &uuidBuffer) == 0
                    ? String(decoding: uuidBuffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
                    : ""
                sink.continuation.yield(
                    DomainLifecycleEvent(
                        connectionURI: sink.connectionURI, domainName: name, domainUUID: uuid,
                        kind: DomainLifecycleEvent.decode(event: event, detail: detail), detail: detail))
                return 0
            },
            sink.toOpaque(),
            { opaque in
                guard let opaque else { return }
                Unmanaged<LifecycleEventSink>.fromOpaque(opaque).release()
            })
        if callbackID < 0 {
            let failure = LibvirtError.takeLast(operation: "virConnectDomainEventRegisterAny")
            sink.release()
            continuation.finish()
            throw failure
        }
        // Captures self: the connection stays open while someone listens.
        continuation.onTermination = { _ in
            _ = virConnectDomainEventDeregisterAny(self.handle, callbackID)
        }
        return stream
    }
}

extension DomainLifecycleEvent.Kind: CustomStringConvertible {
    /// libvirt's word for the event, with the stop reason: `stopped (destroyed)`, `crashed`, …
    public var description: String {
        switch self {
        case .defined: "defined"
        case .undefined: "undefined"
        case .started: "started"
        case .suspended: "suspended"
        case .resumed: "resumed"
        case .stopped(let reason): "stopped (\(reason))"
        case .shutdown: "shutting down"
        case .pmSuspended: "suspended by the guest"
        case .crashed: "crashed"
        case .other(let value): "event \(value)"
        }
    }
}

extension DomainLifecycleEvent.StopReason: CustomStringConvertible {
    /// libvirt's word for why the domain stopped.
    public var description: String {
        switch self {
        case .shutdown: "shut down"
        case .destroyed: "destroyed"
        case .crashed: "crashed"
        case .migrated: "migrated"
        case .saved: "saved"
        case .failed: "emulator failed"
        case .fromSnapshot: "snapshot loaded"
        case .other(let value): "reason \(value)"
        }
    }
}

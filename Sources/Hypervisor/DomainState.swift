internal import CLibvirt

/// What a domain is doing now (`virDomainGetState`), with the reason libvirt gives for it.
public enum DomainState: Sendable, Hashable, CustomStringConvertible {
    /// Running guest code.
    case running
    /// Paused; `reason` is libvirt's `virDomainPausedReason` (an emulator error pauses a guest too).
    case paused(reason: Int32)
    /// Shut off (a transient domain in this state is already gone).
    case shutOff
    /// Crashed.
    case crashed
    /// Any other state (blocked, shutting down, suspended by the guest, …) and its number.
    case other(state: Int32)

    public var description: String {
        switch self {
        case .running: "running"
        case .paused(let reason): "paused (reason \(reason))"
        case .shutOff: "shut off"
        case .crashed: "crashed"
        case .other(let state): "state \(state)"
        }
    }
}

extension Domain {
    /// The domain's state now.
    ///
    /// - Throws: `LibvirtError` (operation `virDomainGetState`), `.noDomain` once a transient
    ///   domain is gone.
    public func state() throws(LibvirtError) -> DomainState {
        var state: Int32 = 0
        var reason: Int32 = 0
        if virDomainGetState(handle, &state, &reason, 0) < 0 {
            throw LibvirtError.takeLast(operation: "virDomainGetState")
        }
        switch UInt32(state) {
        case VIR_DOMAIN_RUNNING.rawValue: return .running
        case VIR_DOMAIN_PAUSED.rawValue: return .paused(reason: reason)
        case VIR_DOMAIN_SHUTOFF.rawValue: return .shutOff
        case VIR_DOMAIN_CRASHED.rawValue: return .crashed
        default: return .other(state: state)
        }
    }
}

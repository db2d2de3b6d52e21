import Hummingbird
import KeyshardAPI
import NIOCore

#if canImport(FoundationEssentials)
    import FoundationEssentials
#else
    import Foundation
#endif

/// What the server knows about one request as it passes the middleware: the connection it came
/// on, its id, and — once ``CallerMiddleware`` ran — who sent it.
struct KeyshardRequestContext: RequestContext {
    var coreContext: CoreRequestContextStorage
    /// The accepted connection, for the peer's credentials.
    let channel: any Channel
    /// The request's id, in the response envelope and both audit records.
    let requestID: String
    /// The caller, set by ``CallerMiddleware``.
    var caller: Caller?

    init(source: ApplicationRequestContextSource) {
        coreContext = .init(source: source)
        channel = source.channel
        requestID = UUID().uuidString.lowercased()
    }

    /// The middleware and handlers decode bodies themselves (strictly, with their own limit).
    var maxUploadSize: Int { 0 }
}

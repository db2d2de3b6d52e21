import KeyshardAPI
import NIOCore
import NIOSSL
import X509

#if canImport(Glibc)
    import Glibc
#endif

/// Who is on the other end of a connection, as the kernel or the TLS handshake vouches for it.
enum PeerIdentity {
    /// Why a caller could not be identified. The request is refused (403): a caller the server
    /// cannot name cannot be authorized or audited.
    struct Failure: Error, CustomStringConvertible {
        let description: String
    }

    /// The caller on `channel`: SO_PEERCRED for a Unix socket, the verified client certificate's
    /// subject for TLS.
    static func caller(on channel: any Channel) async throws(Failure) -> Caller {
        if case .unixDomainSocket = channel.localAddress {
            return try await peerCredentials(of: channel)
        }
        return try await certificateSubject(of: channel)
    }

    /// The layout of Linux's `struct ucred` (pid_t, uid_t, gid_t), which Glibc's module does not
    /// export without _GNU_SOURCE. Three 32-bit fields: no padding, the same layout in Swift and C.
    private struct UCred: Sendable {
        var pid: Int32 = 0
        var uid: UInt32 = 0
        var gid: UInt32 = 0
    }

    /// SO_PEERCRED: the credentials the peer had when it called connect(2), from the kernel.
    private static func peerCredentials(of channel: any Channel) async throws(Failure) -> Caller {
        guard let provider = channel as? any SocketOptionProvider else {
            throw Failure(description: "the connection offers no socket options to read the peer's credentials")
        }
        let credentials: UCred
        do {
            credentials = try await provider.unsafeGetSocketOption(
                level: SocketOptionLevel(SOL_SOCKET), name: SocketOptionName(SO_PEERCRED)
            ).get()
        } catch {
            throw Failure(description: "cannot read the peer's credentials (SO_PEERCRED): \(error)")
        }
        return Caller(uid: credentials.uid, gid: credentials.gid, pid: credentials.pid)
    }

    /// The subject of the client certificate NIOSSL verified against the client CA during the
    /// handshake (mutual TLS is mandatory, so a request on a TLS listener always has one).
    private static func certificateSubject(of channel: any Channel) async throws(Failure) -> Caller {
        let certificate: NIOSSLCertificate?
        do {
            certificate = try await channel.nioSSL_peerCertificate().get()
        } catch {
            throw Failure(description: "the connection is neither a Unix socket nor TLS")
        }
        guard let certificate else {
            throw Failure(description: "the TLS client presented no certificate")
        }
        do {
            let parsed = try Certificate(derEncoded: certificate.toDERBytes())
            return Caller(certificateSubject: parsed.subject.description)
        } catch {
            throw Failure(description: "the TLS client certificate does not parse: \(error)")
        }
    }
}

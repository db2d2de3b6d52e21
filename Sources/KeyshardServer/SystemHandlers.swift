import Foundation
import Hummingbird
import KeyshardAPI
import NIOCore
import Prometheus

/// `/v1/sys/health`, `/v1/keyshard/…` and `/metrics`.
struct SystemHandlers: Sendable {
    let service: any KeyshardService
    let registry: PrometheusCollectorRegistry

    /// Vault's flat health body (no envelope): 200 while every ring is at or above its threshold,
    /// 503 otherwise (where a sealed Vault answers 503).
    func health(_ request: Request, _ context: KeyshardRequestContext) async throws -> Response {
        let health = await service.health()
        return try APIResponses.json(
            VaultWire.HealthBody(health, now: Date()), status: health.serving ? .ok : .serviceUnavailable)
    }

    func custodians(_ request: Request, _ context: KeyshardRequestContext) async throws -> Response {
        let ring = request.uri.queryParameters["ring"].map(String.init)
        if let ring { try Names.validate(ring, what: "ring") }
        let custodians = try await service.custodians(ring: ring)
        return try APIResponses.envelope(
            VaultWire.CustodiansBody(custodians: custodians.map(VaultWire.CustodianBody.init)), context: context)
    }

    func rings(_ request: Request, _ context: KeyshardRequestContext) async throws -> Response {
        let rings = try await service.rings()
        return try APIResponses.envelope(
            VaultWire.RingsBody(rings: rings.map(VaultWire.RingBody.init)), context: context)
    }

    func rotateRing(_ request: Request, _ context: KeyshardRequestContext) async throws -> Response {
        guard let ring = context.parameters.get("ring") else {
            throw KeyshardError(.badRequest, "the path names no ring")
        }
        try Names.validate(ring, what: "ring")
        let rotated = try await service.rotateRing(ring)
        return try APIResponses.envelope(VaultWire.RingBody(rotated), context: context)
    }

    func reloadPolicy(_ request: Request, _ context: KeyshardRequestContext) async throws -> Response {
        let result = try await service.reloadPolicy()
        return try APIResponses.envelope(VaultWire.PolicyReloadBody(result), context: context)
    }

    /// Prometheus' text exposition format.
    func metrics(_ request: Request, _ context: KeyshardRequestContext) async throws -> Response {
        let bytes = registry.emitToBuffer()
        return Response(
            status: .ok, headers: [.contentType: "text/plain; version=0.0.4; charset=utf-8"],
            body: .init(byteBuffer: ByteBuffer(bytes: bytes)))
    }
}

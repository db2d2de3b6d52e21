import Hummingbird
import KeyshardAPI
import Prometheus

/// The API's routing table: every path, method and operation, and the middleware each gets.
struct Routes {
    typealias Handler = @Sendable (Request, KeyshardRequestContext) async throws -> Response

    struct Route {
        let method: HTTPRequest.Method
        let path: String
        let operation: APIOperation
        let handler: Handler
    }

    /// Methods answered 405 (with `Allow`) on a known path that does not take them: every method of
    /// RFC 9110 but CONNECT (whose request target is not a path), so a known resource never answers
    /// 404 "no such path" for a method it lacks. Vault's LIST arrives as GET (see ``ListMethod``).
    static let knownMethods: [HTTPRequest.Method] = [.get, .post, .put, .delete, .patch, .head, .options, .trace]

    let routes: [Route]

    init(service: any KeyshardService, configuration: ServerConfiguration, registry: PrometheusCollectorRegistry) {
        let keys = KeyHandlers(service: service, limits: configuration)
        let crypto = CryptoHandlers(service: service, limits: configuration)
        let system = SystemHandlers(service: service, registry: registry)
        // Vault takes PUT wherever it takes POST (`vault write` sends PUT).
        func write(_ path: String, _ operation: APIOperation, _ handler: @escaping Handler) -> [Route] {
            [
                Route(method: .post, path: path, operation: operation, handler: handler),
                Route(method: .put, path: path, operation: operation, handler: handler),
            ]
        }
        var routes: [Route] = [
            Route(method: .get, path: "/v1/transit/keys/:name", operation: .readKey, handler: keys.read),
            Route(method: .delete, path: "/v1/transit/keys/:name", operation: .deleteKey, handler: keys.delete),
            // LIST (rewritten to GET), and GET with or without ?list=true, as Vault maps them.
            Route(method: .get, path: "/v1/transit/keys", operation: .listKeys, handler: keys.list),
            Route(method: .get, path: "/v1/sys/health", operation: .health, handler: system.health),
            Route(method: .get, path: "/v1/keyshard/custodians", operation: .custodians, handler: system.custodians),
            Route(method: .get, path: "/v1/keyshard/rings", operation: .rings, handler: system.rings),
            Route(method: .get, path: "/metrics", operation: .metrics, handler: system.metrics),
        ]
        routes += write("/v1/transit/keys/:name", .createKey, keys.create)
        routes += write("/v1/transit/keys/:name/import", .importKey, keys.importKey)
        routes += write("/v1/transit/keys/:name/rotate", .rotateKey, keys.rotate)
        routes += write("/v1/transit/keys/:name/config", .configureKey, keys.configure)
        routes += write("/v1/transit/keys/:name/trim", .trimKey, keys.trim)
        routes += write("/v1/transit/encrypt/:name", .encrypt, crypto.encrypt)
        routes += write("/v1/transit/decrypt/:name", .decrypt, crypto.decrypt)
        routes += write("/v1/transit/rewrap/:name", .rewrap, crypto.rewrap)
        routes += write("/v1/transit/datakey/plaintext/:name", .dataKey, crypto.dataKey(includingPlaintext: true))
        routes += write("/v1/transit/datakey/wrapped/:name", .dataKey, crypto.dataKey(includingPlaintext: false))
        routes += write("/v1/transit/sign/:name", .sign, crypto.sign)
        routes += write("/v1/transit/sign/:name/:hash_algorithm", .sign, crypto.sign)
        routes += write("/v1/transit/verify/:name", .verify, crypto.verify)
        routes += write("/v1/transit/verify/:name/:hash_algorithm", .verify, crypto.verify)
        routes += write("/v1/keyshard/rings/:ring/rotate", .rotateRing, system.rotateRing)
        routes += write("/v1/keyshard/policy/reload", .reloadPolicy, system.reloadPolicy)
        self.routes = routes
    }

    /// A router serving every route behind its middleware, 405 for a known path's other
    /// methods, and 404 elsewhere, every refusal in Vault's error body.
    func router(roles: any RoleResolver, audit: any AuditSink, metrics: APIMetrics) -> Router<KeyshardRequestContext> {
        let router = Router(context: KeyshardRequestContext.self)
        // Router-level middleware wraps each route as it is added, so it comes first.
        router.add(middleware: ErrorBodyMiddleware())
        for route in routes {
            let group = router.group()
            group.add(middleware: MetricsMiddleware(operation: route.operation, metrics: metrics))
            if route.method == .get, route.operation != .listKeys {
                group.add(middleware: RefuseListMiddleware(path: route.path))
            }
            if route.operation.requiredRole != nil {
                group.add(middleware: CallerMiddleware())
                group.add(middleware: AuditMiddleware(operation: route.operation, sink: audit))
                group.add(middleware: AuthorizationMiddleware(operation: route.operation, roles: roles))
            }
            group.on(RouterPath(route.path), method: route.method, use: route.handler)
        }
        var methodsByPath: [String: [HTTPRequest.Method]] = [:]
        for route in routes { methodsByPath[route.path, default: []].append(route.method) }
        for (path, methods) in methodsByPath {
            let lists = routes.contains { $0.path == path && $0.operation == .listKeys }
            let allow = (methods.map(\.rawValue) + (lists ? ["LIST"] : [])).joined(separator: ", ")
            for method in Self.knownMethods where !methods.contains(method) {
                router.on(RouterPath(path), method: method) { request, _ -> Response in
                    throw HTTPRefusal(
                        status: .methodNotAllowed,
                        error: KeyshardError(
                            .badRequest, "\(ListMethod.method(of: request)) is not allowed on \(path); use \(allow)"),
                        headers: [.allow: allow])
                }
            }
        }
        return router
    }
}

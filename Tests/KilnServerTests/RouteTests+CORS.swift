import HTTPTypes
import Hummingbird
import HummingbirdTesting
import KilnServer
import Testing

extension RouteTests {
    static func get(_ client: some TestClientProtocol, _ uri: String, origin: String?, method: HTTPRequest.Method = .get)
        async throws -> TestResponse
    {
        var headers: HTTPFields = [:]
        if let origin { headers[.origin] = origin }
        if method == .options { headers[.accessControlRequestMethod] = "POST" }
        return try await client.execute(uri: uri, method: method, headers: headers, body: nil)
    }

    @Test func corsListedOriginsOnly() async throws {
        guard let app = try Self.app({ $0.corsAllowOrigins = ["https://a.example", "https://b.example"] }) else { return }
        try await app.test(.router) { client in
            for origin in ["https://a.example", "https://b.example"] {
                let r = try await Self.get(client, "/info", origin: origin)
                #expect(r.status == .ok)
                #expect(r.headers[.accessControlAllowOrigin] == origin)
                let preflight = try await Self.get(client, "/generate", origin: origin, method: .options)
                #expect(preflight.headers[.accessControlAllowOrigin] == origin)
                #expect(preflight.headers[.accessControlAllowMethods]?.contains("POST") == true)
            }
            let other = try await Self.get(client, "/info", origin: "https://evil.example")
            #expect(other.status == .ok)
            #expect(other.headers[.accessControlAllowOrigin] == nil)
            let none = try await Self.get(client, "/info", origin: nil)
            #expect(none.headers[.accessControlAllowOrigin] == nil)
        }
    }

    @Test func corsWildcardAndOff() async throws {
        guard let wildcard = try Self.app({ $0.corsAllowOrigins = ["*"] }) else { return }
        try await wildcard.test(.router) { client in
            let r = try await Self.get(client, "/info", origin: "https://any.example")
            #expect(r.headers[.accessControlAllowOrigin] == "*")
        }
        guard let off = try Self.app() else { return }
        try await off.test(.router) { client in
            let r = try await Self.get(client, "/info", origin: "https://any.example")
            #expect(r.headers[.accessControlAllowOrigin] == nil)
        }
    }
}

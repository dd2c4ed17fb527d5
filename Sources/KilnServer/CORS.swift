import HTTPTypes
import Hummingbird

/// CORS for `--cors-allow-origin`: `*` allows every origin; otherwise a request whose `Origin` is one of the listed
/// origins gets CORS headers naming it (preflights included), and any other origin gets none, so browsers block it.
struct AllowedOriginsMiddleware: RouterMiddleware {
    typealias Context = BasicRequestContext
    let origins: Set<String>
    private let cors: CORSMiddleware<BasicRequestContext>

    init(origins: [String]) {
        self.origins = Set(origins)
        cors = CORSMiddleware(
            allowOrigin: origins.contains("*") ? .all : .originBased,
            allowHeaders: [.contentType, .authorization, .accept], allowMethods: [.get, .post, .options])
    }

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response)
        async throws -> Response
    {
        guard origins.contains("*") || request.headers[.origin].map(origins.contains) == true else {
            return try await next(request, context)
        }
        return try await cors.handle(request, context: context, next: next)
    }
}

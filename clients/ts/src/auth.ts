// Carries a Helicase token on every call: `authorization: Bearer <token>`, the header the api
// requires on every RPC but health and reflection.
//
//   const transport = createGrpcTransport({ baseUrl, interceptors: [bearer(tokenFromEnv())] });
import type { Interceptor } from "@connectrpc/connect";

/** The variable the clients read a token from (an API key `hlc_...` or a JWT). */
export const TOKEN_ENV = "HELICASE_TOKEN";

/** $HELICASE_TOKEN, or "" when unset. */
export function tokenFromEnv(env: Record<string, string | undefined> = process.env): string {
  return env[TOKEN_ENV] ?? "";
}

/** An interceptor that sends `token` on every call (none when `token` is empty). */
export function bearer(token: string): Interceptor {
  return (next) => async (req) => {
    if (token) req.header.set("authorization", `Bearer ${token}`);
    return next(req);
  };
}

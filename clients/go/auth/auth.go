// Package auth carries a Helicase token on every gRPC call: `authorization: Bearer <token>`,
// the header the api requires on every RPC but health and reflection.
//
//	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(creds),
//		grpc.WithPerRPCCredentials(auth.Bearer(auth.TokenFromEnv())))
package auth

import (
	"context"
	"os"
)

// EnvVar is the variable the clients read a token from (an API key `hlc_...` or a JWT).
const EnvVar = "HELICASE_TOKEN"

// TokenFromEnv returns $HELICASE_TOKEN ("" when unset).
func TokenFromEnv() string {
	return os.Getenv(EnvVar)
}

// BearerToken is grpc.PerRPCCredentials sending `authorization: Bearer <token>`.
type BearerToken struct {
	token  string
	secure bool
}

// Bearer sends token on every call, also over a plaintext connection (the local suite's
// loopback api); use BearerTLS where the connection must be TLS.
func Bearer(token string) BearerToken {
	return BearerToken{token: token}
}

// BearerTLS sends token only over a TLS connection: grpc refuses to dial plaintext with it.
func BearerTLS(token string) BearerToken {
	return BearerToken{token: token, secure: true}
}

// GetRequestMetadata implements credentials.PerRPCCredentials; no token sends no header.
func (b BearerToken) GetRequestMetadata(_ context.Context, _ ...string) (map[string]string, error) {
	if b.token == "" {
		return map[string]string{}, nil
	}
	return map[string]string{"authorization": "Bearer " + b.token}, nil
}

// RequireTransportSecurity implements credentials.PerRPCCredentials.
func (b BearerToken) RequireTransportSecurity() bool {
	return b.secure
}

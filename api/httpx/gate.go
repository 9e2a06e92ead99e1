// Package httpx is the HTTP plumbing every interface shares: token and session authentication of a request,
// request deadlines, and the error envelope.
package httpx

import "github.com/infrastructor/infrastructor/api/service"

// Gate authenticates requests for every interface over the shared service.
type Gate struct{ *service.Service }

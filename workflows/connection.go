package workflows

import (
	"fmt"

	"go.temporal.io/sdk/client"
)

// ConnectionOptions are the gRPC options of a connection to Temporal for INFRA_TEMPORAL_COMPRESSION: "none" sends
// requests uncompressed, "gzip" compresses them (the SDK's default). On one host or a LAN gzip only spends CPU on
// both ends (about 7 % of the worker's in the bench's profiles); over a slow or metered link to a remote Temporal
// it saves bandwidth.
func ConnectionOptions(compression string) (client.ConnectionOptions, error) {
	switch compression {
	case "none", "":
		return client.ConnectionOptions{GrpcCompression: &client.GrpcCompressionNone{}}, nil
	case "gzip":
		return client.ConnectionOptions{GrpcCompression: &client.GrpcCompressionGzip{}}, nil
	default:
		return client.ConnectionOptions{}, fmt.Errorf("temporal compression %q: want none or gzip", compression)
	}
}

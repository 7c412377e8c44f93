module github.com/fleet-platform/contracts/tests/protojson_oracle

go 1.24.0

require google.golang.org/protobuf v1.36.12

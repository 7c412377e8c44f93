// Package confluentgo holds tests only: confluent-kafka-go's schemaregistry
// client and protobuf serde against our registry and our frames.
package confluentgo

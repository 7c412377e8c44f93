// Command protojson_oracle tells whether Go's protojson accepts each of a list
// of JSON documents as a given message: the reference the JSON Schema target is
// tested against (tests/test_jsonschema_leniency.py).
//
// Usage: protojson_oracle IMAGE < cases.json, where IMAGE is a binary
// FileDescriptorSet and cases.json is [{"message": "<full name>", "json": "<text>"}, ...].
// Prints one JSON array of booleans, one per case.
package main

import (
	"encoding/json"
	"fmt"
	"os"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protodesc"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/descriptorpb"
	"google.golang.org/protobuf/types/dynamicpb"
)

type testCase struct {
	Message string `json:"message"`
	JSON    string `json:"json"`
}

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "protojson_oracle:", err)
		os.Exit(2)
	}
}

func run() error {
	if len(os.Args) != 2 {
		return fmt.Errorf("usage: protojson_oracle IMAGE < cases.json")
	}
	raw, err := os.ReadFile(os.Args[1])
	if err != nil {
		return err
	}
	var set descriptorpb.FileDescriptorSet
	if err := proto.Unmarshal(raw, &set); err != nil {
		return err
	}
	files, err := protodesc.NewFiles(&set)
	if err != nil {
		return err
	}
	var cases []testCase
	if err := json.NewDecoder(os.Stdin).Decode(&cases); err != nil {
		return err
	}
	accepted := make([]bool, len(cases))
	for i, c := range cases {
		desc, err := files.FindDescriptorByName(protoreflect.FullName(c.Message))
		if err != nil {
			return fmt.Errorf("case %d: %w", i, err)
		}
		md, ok := desc.(protoreflect.MessageDescriptor)
		if !ok {
			return fmt.Errorf("case %d: %s is not a message", i, c.Message)
		}
		accepted[i] = protojson.Unmarshal([]byte(c.JSON), dynamicpb.NewMessage(md)) == nil
	}
	return json.NewEncoder(os.Stdout).Encode(accepted)
}

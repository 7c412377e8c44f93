// Command dockerfile_check reads a Dockerfile with BuildKit's own parser, instruction
// parser and linter (the code `docker build` runs before it builds anything) and prints
// what it found as JSON: the parser's and the linter's warnings, and each stage with
// its instructions. No Docker engine runs where the tests do, so this is how the
// scaffolded Dockerfile is checked: it must parse as BuildKit parses it, lint clean, and
// have the structure tests/test_scaffold_dockerfile.py asserts.
//
//	dockerfile_check path/to/Dockerfile
//
// Exit status 0 with the JSON on stdout; 1 with the parse error on stderr.
package main

import (
	"encoding/json"
	"fmt"
	"os"
	"strings"

	"github.com/moby/buildkit/frontend/dockerfile/instructions"
	"github.com/moby/buildkit/frontend/dockerfile/linter"
	"github.com/moby/buildkit/frontend/dockerfile/parser"
)

type warning struct {
	Rule    string `json:"rule"`
	Message string `json:"message"`
	Line    int    `json:"line"`
}

type command struct {
	Name string `json:"name"`
	Line int    `json:"line"`
	// The instruction as written (continuations joined).
	Code string `json:"code"`
	// RUN, CMD, ENTRYPOINT: the command line; Shell is true for the shell form.
	CmdLine []string `json:"cmdline,omitempty"`
	Shell   bool     `json:"shell"`
	// COPY and ADD.
	Sources []string `json:"sources,omitempty"`
	Dest    string   `json:"dest,omitempty"`
	From    string   `json:"from,omitempty"`
	// USER, WORKDIR.
	User    string `json:"user,omitempty"`
	Workdir string `json:"workdir,omitempty"`
	// ENV, as pairs; EXPOSE; HEALTHCHECK's test.
	Env         [][2]string `json:"env,omitempty"`
	Ports       []string    `json:"ports,omitempty"`
	HealthCheck []string    `json:"healthcheck,omitempty"`
}

type stage struct {
	Name     string    `json:"name"`
	Base     string    `json:"base"`
	Line     int       `json:"line"`
	Commands []command `json:"commands"`
}

type report struct {
	Warnings []warning `json:"warnings"`
	Stages   []stage   `json:"stages"`
}

func line(ranges []parser.Range) int {
	if len(ranges) == 0 {
		return 0
	}
	return ranges[0].Start.Line
}

func describe(c instructions.Command) command {
	out := command{Name: strings.ToUpper(c.Name()), Line: line(c.Location())}
	if s, ok := c.(fmt.Stringer); ok {
		out.Code = s.String()
	}
	switch v := c.(type) {
	case *instructions.RunCommand:
		out.CmdLine, out.Shell = v.CmdLine, v.PrependShell
	case *instructions.CmdCommand:
		out.CmdLine, out.Shell = v.CmdLine, v.PrependShell
	case *instructions.EntrypointCommand:
		out.CmdLine, out.Shell = v.CmdLine, v.PrependShell
	case *instructions.CopyCommand:
		out.Sources, out.Dest, out.From = v.SourcePaths, v.DestPath, v.From
	case *instructions.AddCommand:
		out.Sources, out.Dest = v.SourcePaths, v.DestPath
	case *instructions.UserCommand:
		out.User = v.User
	case *instructions.WorkdirCommand:
		out.Workdir = v.Path
	case *instructions.EnvCommand:
		for _, kv := range v.Env {
			out.Env = append(out.Env, [2]string{kv.Key, kv.Value})
		}
	case *instructions.ExposeCommand:
		out.Ports = v.Ports
	case *instructions.HealthCheckCommand:
		if v.Health != nil {
			out.HealthCheck = v.Health.Test
		}
	}
	return out
}

func check(path string) (report, error) {
	r := report{Warnings: []warning{}, Stages: []stage{}}
	f, err := os.Open(path)
	if err != nil {
		return r, err
	}
	defer f.Close()
	ast, err := parser.Parse(f)
	if err != nil {
		return r, fmt.Errorf("%s: %w", path, err)
	}
	for _, w := range ast.Warnings {
		at := 0
		if w.Location != nil {
			at = w.Location.Start.Line
		}
		r.Warnings = append(r.Warnings, warning{Rule: "parser", Message: w.Short, Line: at})
	}
	lint := linter.New(&linter.Config{
		Warn: func(rule, _, _, message string, location []parser.Range) {
			r.Warnings = append(r.Warnings, warning{Rule: rule, Message: message, Line: line(location)})
		},
	})
	stages, _, err := instructions.Parse(ast.AST, lint)
	if err != nil {
		return r, fmt.Errorf("%s: %w", path, err)
	}
	for _, s := range stages {
		st := stage{Name: s.Name, Base: s.BaseName, Line: line(s.Location), Commands: []command{}}
		for _, c := range s.Commands {
			st.Commands = append(st.Commands, describe(c))
		}
		r.Stages = append(r.Stages, st)
	}
	return r, nil
}

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: dockerfile_check path/to/Dockerfile")
		os.Exit(2)
	}
	r, err := check(os.Args[1])
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	enc := json.NewEncoder(os.Stdout)
	enc.SetIndent("", "  ")
	if err := enc.Encode(r); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}

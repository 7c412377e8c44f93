// Package registry is a client of a Confluent-compatible schema registry (ours,
// `contracts registry serve`, or Confluent's) with bounded caches, and typed
// frames through it (Frames): encoding that finds or registers a message's
// schema id, decoding that refuses a frame whose id holds another message type
// unless the registry finds that type compatible with the consumer's.
//
// What never changes once registered is cached until evicted: a schema by id,
// the id a schema got under a subject. What can change is cached for Config.TTL:
// the latest version of a subject, a subject's compatibility level, the subject
// versions that hold an id, compatibility verdicts. Each cache holds at most
// Config.CacheSize entries and drops the least recently used first.
package registry

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/descriptorpb"
)

const (
	// ContentType is the registry API's media type.
	ContentType = "application/vnd.schemaregistry.v1+json"
	// Protobuf is the schemaType of Protobuf schemas.
	Protobuf = "PROTOBUF"
	// DefaultTimeout bounds one request.
	DefaultTimeout = 10 * time.Second
	// DefaultCacheSize is each cache's entry limit.
	DefaultCacheSize = 1000
	// DefaultTTL is how long answers that can change are kept.
	DefaultTTL = 60 * time.Second
)

// Kinds of Error; test with errors.Is.
var (
	// ErrNotFound: the registry has no such subject (40401), version (40402) or schema (40403).
	ErrNotFound = errors.New("not found")
	// ErrUnreachable: no answer (connection failed, timeout).
	ErrUnreachable = errors.New("registry unreachable")
	// ErrRefused: any other refusal (invalid schema, auth, incompatible, ...).
	ErrRefused = errors.New("registry refused the request")
	// ErrMalformed: an answer that is not what Confluent's API returns.
	ErrMalformed = errors.New("malformed registry answer")
)

// Error is every failure of a registry call: the request's method and URL, the
// registry's HTTP status and Confluent error code when it answered.
type Error struct {
	Kind        error
	Method, URL string
	Status      int
	Code        int
	Detail      string
}

func (e *Error) Error() string {
	code := ""
	if e.Code != 0 {
		code = fmt.Sprintf(" (error code %d)", e.Code)
	}
	if e.Status != 0 {
		return fmt.Sprintf("registry: %s %s: HTTP %d%s: %s", e.Method, e.URL, e.Status, code, e.Detail)
	}
	return fmt.Sprintf("registry: %s %s: %v: %s", e.Method, e.URL, e.Kind, e.Detail)
}

func (e *Error) Unwrap() error { return e.Kind }

// Auth adds credentials to each request: BasicAuth or BearerAuth.
type Auth interface{ header() string }

// BasicAuth is HTTP basic auth, as the Confluent clients send it.
type BasicAuth struct{ Username, Password string }

func (a BasicAuth) header() string {
	return "Basic " + base64.StdEncoding.EncodeToString([]byte(a.Username+":"+a.Password))
}

// BearerAuth sends a bearer token.
type BearerAuth struct{ Token string }

func (a BearerAuth) header() string { return "Bearer " + a.Token }

// Config configures a Client; only URL is required.
type Config struct {
	URL  string
	Auth Auth
	// Timeout bounds each request (DefaultTimeout when zero).
	Timeout time.Duration
	// CacheSize is each cache's entry limit (DefaultCacheSize when zero;
	// negative caches nothing, so every call is a request).
	CacheSize int
	// TTL is how long answers that can change are kept (DefaultTTL when zero).
	TTL time.Duration
	// HTTPClient, when set, sends the requests (its own Timeout aside).
	HTTPClient *http.Client
}

// Reference is an import of a schema: the import's file name and the subject
// version that holds it.
type Reference struct {
	Name    string `json:"name"`
	Subject string `json:"subject"`
	Version int    `json:"version"`
}

// Schema is a schema as the API carries it: .proto text or a base64
// FileDescriptorProto, and its references.
type Schema struct {
	Schema     string      `json:"schema"`
	SchemaType string      `json:"schemaType,omitempty"`
	References []Reference `json:"references,omitempty"`
}

func (s Schema) body() Schema {
	if s.SchemaType == "" {
		s.SchemaType = Protobuf
	}
	return s
}

func (s Schema) fingerprint() string {
	raw, _ := json.Marshal(s.body())
	sum := sha256.Sum256(raw)
	return hex.EncodeToString(sum[:])
}

// SubjectVersion is one version of a subject and the schema id it holds.
type SubjectVersion struct {
	Subject string
	Version int
	ID      int
	Schema  Schema
}

// Compatibility is a compatibility verdict with the registry's reasons.
type Compatibility struct {
	IsCompatible bool
	Messages     []string
}

// Client is safe for concurrent use; share one per registry.
type Client struct {
	url      string
	auth     Auth
	timeout  time.Duration
	http     *http.Client
	requests atomic.Int64

	schemas  *lru[schemaKey, Schema]
	files    *lru[int, *descriptorpb.FileDescriptorProto]
	ids      *lru[idKey, SubjectVersion]
	uses     *lru[int, []SubjectVersion]
	latest   *lru[string, SubjectVersion]
	levels   *lru[string, string]
	verdicts *lru[verdictKey, Compatibility]
}

type schemaKey struct {
	id         int
	serialized bool
}

type idKey struct{ subject, fingerprint string }

type verdictKey struct{ subject, version, fingerprint string }

// New checks the configuration and makes a Client.
func New(cfg Config) (*Client, error) {
	u, err := url.Parse(cfg.URL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("registry: URL %q must be http:// or https:// with a host", cfg.URL)
	}
	if u.User != nil {
		return nil, fmt.Errorf("registry: URL %s: pass credentials in Config.Auth, not in the URL, so they never reach a log line", u.Host)
	}
	if cfg.Timeout < 0 || cfg.TTL < 0 {
		return nil, fmt.Errorf("registry: Timeout (%v) and TTL (%v) must not be negative", cfg.Timeout, cfg.TTL)
	}
	timeout, size, ttl := cfg.Timeout, cfg.CacheSize, cfg.TTL
	if timeout == 0 {
		timeout = DefaultTimeout
	}
	if size == 0 {
		size = DefaultCacheSize
	}
	if ttl == 0 {
		ttl = DefaultTTL
	}
	httpClient := cfg.HTTPClient
	if httpClient == nil {
		httpClient = &http.Client{}
	}
	return &Client{
		url: strings.TrimRight(cfg.URL, "/"), auth: cfg.Auth, timeout: timeout, http: httpClient,
		schemas:  newLRU[schemaKey, Schema](size, 0),
		files:    newLRU[int, *descriptorpb.FileDescriptorProto](size, 0),
		ids:      newLRU[idKey, SubjectVersion](size, 0),
		uses:     newLRU[int, []SubjectVersion](size, ttl),
		latest:   newLRU[string, SubjectVersion](size, ttl),
		levels:   newLRU[string, string](size, ttl),
		verdicts: newLRU[verdictKey, Compatibility](size, ttl),
	}, nil
}

// URL is the registry's base URL.
func (c *Client) URL() string { return c.url }

// Requests counts the HTTP requests sent, for tests and benchmarks.
func (c *Client) Requests() int64 { return c.requests.Load() }

// Clear forgets every cached answer.
func (c *Client) Clear() {
	c.schemas.clear()
	c.files.clear()
	c.ids.clear()
	c.uses.clear()
	c.latest.clear()
	c.levels.clear()
	c.verdicts.clear()
}

// Schema is the schema registered under an id; serialized asks for a base64
// FileDescriptorProto instead of the text it was registered as.
func (c *Client) Schema(ctx context.Context, id int, serialized bool) (Schema, error) {
	key := schemaKey{id, serialized}
	if s, ok := c.schemas.get(key); ok {
		return s, nil
	}
	path := fmt.Sprintf("/schemas/ids/%d", id)
	if serialized {
		path += "?format=serialized"
	}
	var s Schema
	if err := c.call(ctx, http.MethodGet, path, nil, &s); err != nil {
		return Schema{}, err
	}
	if s.Schema == "" {
		return Schema{}, c.malformed(http.MethodGet, path, "no schema")
	}
	c.schemas.put(key, s)
	return s, nil
}

// FileDescriptor is the .proto file registered under an id, as the registry compiled it.
func (c *Client) FileDescriptor(ctx context.Context, id int) (*descriptorpb.FileDescriptorProto, error) {
	if fd, ok := c.files.get(id); ok {
		return fd, nil
	}
	s, err := c.Schema(ctx, id, true)
	if err != nil {
		return nil, err
	}
	raw, err := base64.StdEncoding.DecodeString(s.Schema)
	fd := &descriptorpb.FileDescriptorProto{}
	if err == nil {
		err = proto.Unmarshal(raw, fd)
	}
	if err != nil {
		return nil, c.malformed(http.MethodGet, fmt.Sprintf("/schemas/ids/%d?format=serialized", id),
			fmt.Sprintf("schema id %d: not a base64 FileDescriptorProto: %v", id, err))
	}
	c.files.put(id, fd)
	return fd, nil
}

// Uses are the subject versions that hold an id; refresh asks again within the TTL.
func (c *Client) Uses(ctx context.Context, id int, refresh bool) ([]SubjectVersion, error) {
	if !refresh {
		if uses, ok := c.uses.get(id); ok {
			return uses, nil
		}
	}
	var body []struct {
		Subject string `json:"subject"`
		Version int    `json:"version"`
	}
	if err := c.call(ctx, http.MethodGet, fmt.Sprintf("/schemas/ids/%d/versions", id), nil, &body); err != nil {
		return nil, err
	}
	uses := make([]SubjectVersion, len(body))
	for i, u := range body {
		uses[i] = SubjectVersion{Subject: u.Subject, Version: u.Version, ID: id}
	}
	c.uses.put(id, uses)
	return uses, nil
}

// Latest is the latest version of a subject.
func (c *Client) Latest(ctx context.Context, subject string) (SubjectVersion, error) {
	if v, ok := c.latest.get(subject); ok {
		return v, nil
	}
	v, err := c.version(ctx, http.MethodGet, "/subjects/"+url.PathEscape(subject)+"/versions/latest", nil)
	if err != nil {
		return SubjectVersion{}, err
	}
	c.latest.put(subject, v)
	return v, nil
}

// CompatibilityLevel is the subject's compatibility mode, or the global one.
func (c *Client) CompatibilityLevel(ctx context.Context, subject string) (string, error) {
	if level, ok := c.levels.get(subject); ok {
		return level, nil
	}
	path := "/config/" + url.PathEscape(subject) + "?defaultToGlobal=true"
	var body struct {
		Level string `json:"compatibilityLevel"`
	}
	if err := c.call(ctx, http.MethodGet, path, nil, &body); err != nil {
		return "", err
	}
	if body.Level == "" {
		return "", c.malformed(http.MethodGet, path, "no compatibilityLevel")
	}
	c.levels.put(subject, body.Level)
	return body.Level, nil
}

// Register returns the id of a schema under a subject, registering it when new.
func (c *Client) Register(ctx context.Context, subject string, s Schema) (int, error) {
	key := idKey{subject, s.fingerprint()}
	if v, ok := c.ids.get(key); ok {
		return v.ID, nil
	}
	path := "/subjects/" + url.PathEscape(subject) + "/versions"
	var body struct {
		ID      int `json:"id"`
		Version int `json:"version"`
	}
	if err := c.call(ctx, http.MethodPost, path, s.body(), &body); err != nil {
		return 0, err
	}
	if body.ID == 0 {
		return 0, c.malformed(http.MethodPost, path, "no id")
	}
	if body.Version != 0 { // ours says; Confluent's answers only the id
		c.ids.put(key, SubjectVersion{Subject: subject, Version: body.Version, ID: body.ID, Schema: s})
	}
	return body.ID, nil
}

// Lookup is the version of a subject that holds exactly this schema (ErrNotFound if none).
func (c *Client) Lookup(ctx context.Context, subject string, s Schema) (SubjectVersion, error) {
	key := idKey{subject, s.fingerprint()}
	if v, ok := c.ids.get(key); ok {
		return v, nil
	}
	v, err := c.version(ctx, http.MethodPost, "/subjects/"+url.PathEscape(subject), s.body())
	if err != nil {
		return SubjectVersion{}, err
	}
	c.ids.put(key, v)
	return v, nil
}

// CheckCompatibility says whether s is compatible with a version of a subject
// ("latest", a number, or "all" for those the subject's mode compares) under
// the subject's mode.
func (c *Client) CheckCompatibility(ctx context.Context, subject, version string, s Schema) (Compatibility, error) {
	key := verdictKey{subject, version, s.fingerprint()}
	if v, ok := c.verdicts.get(key); ok {
		return v, nil
	}
	tail := "/" + url.PathEscape(version)
	if version == "all" {
		tail = ""
	}
	path := "/compatibility/subjects/" + url.PathEscape(subject) + "/versions" + tail + "?verbose=true"
	var body struct {
		IsCompatible *bool    `json:"is_compatible"`
		Messages     []string `json:"messages"`
	}
	if err := c.call(ctx, http.MethodPost, path, s.body(), &body); err != nil {
		return Compatibility{}, err
	}
	if body.IsCompatible == nil {
		return Compatibility{}, c.malformed(http.MethodPost, path, "no is_compatible")
	}
	verdict := Compatibility{IsCompatible: *body.IsCompatible, Messages: body.Messages}
	c.verdicts.put(key, verdict)
	return verdict, nil
}

func (c *Client) version(ctx context.Context, method, path string, payload any) (SubjectVersion, error) {
	var body struct {
		Subject string `json:"subject"`
		Version int    `json:"version"`
		ID      int    `json:"id"`
		Schema
	}
	if err := c.call(ctx, method, path, payload, &body); err != nil {
		return SubjectVersion{}, err
	}
	if body.Subject == "" || body.Version == 0 || body.ID == 0 {
		return SubjectVersion{}, c.malformed(method, path, "no subject, version or id")
	}
	return SubjectVersion{Subject: body.Subject, Version: body.Version, ID: body.ID, Schema: body.Schema}, nil
}

func (c *Client) call(ctx context.Context, method, path string, payload, out any) error {
	full := c.url + path
	var reader io.Reader
	if payload != nil {
		raw, err := json.Marshal(payload)
		if err != nil {
			return err
		}
		reader = bytes.NewReader(raw)
	}
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, full, reader)
	if err != nil {
		return &Error{Kind: ErrUnreachable, Method: method, URL: full, Detail: err.Error()}
	}
	req.Header.Set("Accept", ContentType)
	if payload != nil {
		req.Header.Set("Content-Type", ContentType)
	}
	if c.auth != nil {
		req.Header.Set("Authorization", c.auth.header())
	}
	c.requests.Add(1)
	resp, err := c.http.Do(req)
	if err != nil {
		return &Error{Kind: ErrUnreachable, Method: method, URL: full, Detail: fmt.Sprintf(
			"no answer from the schema registry within %v: %v", c.timeout, err)}
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return &Error{Kind: ErrUnreachable, Method: method, URL: full, Detail: err.Error()}
	}
	if resp.StatusCode >= 300 {
		var body struct {
			Code    int    `json:"error_code"`
			Message string `json:"message"`
		}
		detail := strings.TrimSpace(string(raw))
		if json.Unmarshal(raw, &body) == nil && body.Message != "" {
			detail = body.Message
		}
		if len(detail) > 300 {
			detail = detail[:300]
		}
		kind := ErrRefused
		if resp.StatusCode == http.StatusNotFound {
			kind = ErrNotFound
		}
		return &Error{Kind: kind, Method: method, URL: full, Status: resp.StatusCode, Code: body.Code, Detail: detail}
	}
	if err := json.Unmarshal(raw, out); err != nil {
		return c.malformed(method, path, fmt.Sprintf("%v: %.300s", err, raw))
	}
	return nil
}

func (c *Client) malformed(method, path, detail string) error {
	return &Error{Kind: ErrMalformed, Method: method, URL: c.url + path, Detail: detail}
}

// versionText is how a version number travels in a path.
func versionText(v int) string { return strconv.Itoa(v) }

package adminapi

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"encoding/xml"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/cloakproxy/cloak/s3compat/sigv4"
)

// Client calls the admin API of a running Cloak.
type Client struct {
	// Endpoint is the server's base URL, such as https://cloak:9443.
	Endpoint string
	// Credential signs the calls; its user needs the acts' actions.
	Credential sigv4.Credential
	// Region is the region the server answers as (us-east-1 when empty).
	Region string
	// HTTP sends the calls; http.DefaultClient when nil.
	HTTP *http.Client
}

// Error is an error answer of the server.
type Error struct {
	Status  int
	Code    string
	Message string
}

func (e *Error) Error() string {
	return fmt.Sprintf("%s: %s (HTTP %d)", e.Code, e.Message, e.Status)
}

// maxResult bounds an answer's body.
const maxResult = 64 << 20

// Call performs the act name with args on the server and returns its
// result, decoded into the act's result type (a pointer).
func (c *Client) Call(ctx context.Context, name string, args Args) (any, error) {
	a, found := acts[name]
	if !found {
		return nil, fmt.Errorf("unknown admin act %q", name)
	}
	body, err := json.Marshal(args)
	if err != nil {
		return nil, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost,
		strings.TrimSuffix(c.Endpoint, "/")+PathPrefix+name, bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	region := c.Region
	if region == "" {
		region = "us-east-1"
	}
	sum := sha256.Sum256(body)
	sigv4.SignRequest(req, c.Credential, region, "s3", time.Now(), hex.EncodeToString(sum[:]))
	hc := c.HTTP
	if hc == nil {
		hc = http.DefaultClient
	}
	resp, err := hc.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, maxResult))
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		e := &Error{Status: resp.StatusCode}
		var doc struct {
			Code    string `xml:"Code"`
			Message string `xml:"Message"`
		}
		if xml.Unmarshal(raw, &doc) == nil {
			e.Code, e.Message = doc.Code, doc.Message
		} else {
			e.Code = http.StatusText(resp.StatusCode)
			e.Message = "the server's answer is not an S3 error"
		}
		return nil, e
	}
	out := a.result()
	if err := json.Unmarshal(raw, out); err != nil {
		return nil, fmt.Errorf("decode answer: %w", err)
	}
	return out, nil
}

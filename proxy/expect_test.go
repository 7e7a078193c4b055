package proxy

import (
	"bufio"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/cloakproxy/cloak/s3compat/sigv4"
)

// TestServe_EarlyErrorAnswersExpectContinue sends a PUT with
// "Expect: 100-continue" and holds back its body, as botocore (aws cli,
// boto3) does for every upload. A request refused before its body is
// read must get its error answer at once; the server must not wait for a
// body it never asked for.
func TestServe_EarlyErrorAnswersExpectContinue(t *testing.T) {
	s, _ := newSubresourceServer(t)
	srv := httptest.NewServer(s)
	defer srv.Close()
	req, _ := http.NewRequest(http.MethodPut, srv.URL+"/bkt/held-back", nil)
	req.ContentLength = 1000
	req.Header.Set("Expect", "100-continue")
	unknown := sigv4.Credential{AccessKey: "AKIAUNKNOWN", SecretKey: "whatever"}
	sigv4.SignRequest(req, unknown, "us-east-1", "s3", time.Now(), sigv4.UnsignedPayload)

	conn, err := net.Dial("tcp", srv.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	var head strings.Builder
	fmt.Fprintf(&head, "PUT /bkt/held-back HTTP/1.1\r\nHost: %s\r\nContent-Length: 1000\r\n", req.Host)
	for k, vs := range req.Header {
		fmt.Fprintf(&head, "%s: %s\r\n", k, vs[0])
	}
	head.WriteString("\r\n")
	if _, err := conn.Write([]byte(head.String())); err != nil {
		t.Fatal(err)
	}
	conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	resp, err := http.ReadResponse(bufio.NewReader(conn), req)
	if err != nil {
		t.Fatalf("no answer while the body is held back: %v", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden {
		t.Fatalf("answer %s, want 403 InvalidAccessKeyId", resp.Status)
	}
}

package audit

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"sort"
	"text/tabwriter"
	"time"
)

// ReportOptions select the records a report covers.
type ReportOptions struct {
	Since  time.Time // zero: from the start
	User   string    // empty: every user
	Bucket string    // empty: every bucket
}

// Access summarises what one user did in one bucket.
type Access struct {
	User      string `json:"user"`
	Bucket    string `json:"bucket"`
	Requests  int    `json:"requests"`
	Downloads int    `json:"downloads"`
	Uploads   int    `json:"uploads"`
	Deletions int    `json:"deletions"`
	Denied    int    `json:"denied"`
	Errors    int    `json:"errors"`
	BytesOut  int64  `json:"bytes_out"`
	BytesIn   int64  `json:"bytes_in"`
}

// Report is what "cloak audit report" shows.
type Report struct {
	Since    time.Time `json:"since"`
	Records  int       `json:"records"`
	Accesses []Access  `json:"accesses"`
	// Denied, Tampering and Admin list those records in full (the
	// first MaxListed of each).
	Denied    []Record `json:"denied"`
	Tampering []Record `json:"possible_tampering"`
	Admin     []Record `json:"admin"`
	Malformed int      `json:"malformed_lines"`
}

// MaxListed bounds each list of records in a Report.
const MaxListed = 1000

// Summarise builds a report of the records in srcs. It does not verify
// the chains (see Verify); lines that do not parse are counted.
func Summarise(srcs []Source, opts ReportOptions) *Report {
	rep := &Report{Since: opts.Since}
	acc := map[[2]string]*Access{}
	for _, src := range srcs {
		sc := bufio.NewScanner(bytes.NewReader(src.Data))
		sc.Buffer(make([]byte, 0, 64<<10), maxLine+1)
		for sc.Scan() {
			if len(bytes.TrimSpace(sc.Bytes())) == 0 {
				continue
			}
			r, err := ParseRecord(sc.Bytes())
			if err != nil {
				rep.Malformed++
				continue
			}
			if r.Kind == KindCheckpoint || !selected(r, opts) {
				continue
			}
			rep.Records++
			rep.add(acc, r)
		}
	}
	for _, a := range acc {
		rep.Accesses = append(rep.Accesses, *a)
	}
	sort.Slice(rep.Accesses, func(i, j int) bool {
		a, b := rep.Accesses[i], rep.Accesses[j]
		if a.User != b.User {
			return a.User < b.User
		}
		return a.Bucket < b.Bucket
	})
	return rep
}

func selected(r *Record, o ReportOptions) bool {
	return !r.Time.Before(o.Since) && (o.User == "" || o.User == r.User) &&
		(o.Bucket == "" || o.Bucket == r.Bucket)
}

func (rep *Report) add(acc map[[2]string]*Access, r *Record) {
	if r.Kind == KindAdmin {
		rep.Admin = appendCapped(rep.Admin, r)
		return
	}
	if r.PossibleTampering {
		rep.Tampering = appendCapped(rep.Tampering, r)
	}
	user := r.User
	if user == "" {
		user = "(unauthenticated)"
	}
	a := acc[[2]string{user, r.Bucket}]
	if a == nil {
		a = &Access{User: user, Bucket: r.Bucket}
		acc[[2]string{user, r.Bucket}] = a
	}
	a.Requests++
	a.BytesIn += r.BytesIn
	a.BytesOut += r.BytesOut
	switch {
	case IsDenied(r.Status, r.Code):
		a.Denied++
		rep.Denied = appendCapped(rep.Denied, r)
		return
	case r.Status >= 300:
		a.Errors++
		return
	}
	switch r.Action {
	case "GetObject":
		a.Downloads++
	case "PutObject", "CopyObject", "CompleteMultipartUpload":
		a.Uploads++
	case "DeleteObject", "DeleteObjects", "DeleteBucket":
		a.Deletions++
	}
}

// IsDenied reports whether a request with this HTTP status and S3 error
// code was denied: a 403 other than InvalidObjectState (Cloak's answer
// for an object whose master key was destroyed).
func IsDenied(status int, code string) bool {
	return status == 403 && code != "InvalidObjectState"
}

func appendCapped(list []Record, r *Record) []Record {
	if len(list) >= MaxListed {
		return list
	}
	return append(list, *r)
}

// WriteTable writes rep as readable tables.
func (rep *Report) WriteTable(w io.Writer) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "Audit report: %d records", rep.Records)
	if !rep.Since.IsZero() {
		fmt.Fprintf(tw, " since %s", rep.Since.UTC().Format(time.RFC3339))
	}
	fmt.Fprintln(tw)
	fmt.Fprintln(tw)
	fmt.Fprintln(tw, "USER\tBUCKET\tREQUESTS\tDOWNLOADS\tUPLOADS\tDELETIONS\tDENIED\tERRORS"+
		"\tBYTES OUT\tBYTES IN")
	for _, a := range rep.Accesses {
		fmt.Fprintf(tw, "%s\t%s\t%d\t%d\t%d\t%d\t%d\t%d\t%d\t%d\n", a.User, orDash(a.Bucket),
			a.Requests, a.Downloads, a.Uploads, a.Deletions, a.Denied, a.Errors, a.BytesOut, a.BytesIn)
	}
	listRecords(tw, "Denied requests", rep.Denied)
	listRecords(tw, "Possible tampering (stored data failed authentication)", rep.Tampering)
	if len(rep.Admin) > 0 {
		fmt.Fprintf(tw, "\nAdministrative acts (%d)\n", len(rep.Admin))
		fmt.Fprintln(tw, "TIME\tUSER\tHOST\tACTION\tBUCKET\tKEY ID\tVERSION\tDETAIL")
		for _, r := range rep.Admin {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%d\t%s\n", r.Time.UTC().Format(time.RFC3339),
				orDash(r.User), orDash(r.Source), r.Action, orDash(r.Bucket), orDash(r.KeyID),
				r.KeyVersion, orDash(r.Detail))
		}
	}
	if rep.Malformed > 0 {
		fmt.Fprintf(tw, "\n%d lines were not audit records (run cloak audit verify)\n", rep.Malformed)
	}
	return tw.Flush()
}

func listRecords(w io.Writer, title string, list []Record) {
	if len(list) == 0 {
		return
	}
	fmt.Fprintf(w, "\n%s (%d)\n", title, len(list))
	fmt.Fprintln(w, "TIME\tUSER\tSOURCE\tACTION\tBUCKET\tKEY\tSTATUS\tCODE")
	for _, r := range list {
		fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%s\t%d\t%s\n", r.Time.UTC().Format(time.RFC3339),
			orDash(r.User), r.Source, r.Action, orDash(r.Bucket), orDash(r.Key), r.Status,
			orDash(r.Code))
	}
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

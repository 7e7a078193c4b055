package cmd

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/signal"
	"sort"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/cloakproxy/cloak/access"
	"github.com/cloakproxy/cloak/access/adminapi"
	"github.com/cloakproxy/cloak/audit"
	"github.com/cloakproxy/cloak/config"
	"github.com/cloakproxy/cloak/s3compat/sigv4"
)

// adminCommand is one "cloak admin NOUN VERB": the admin API act it runs
// and the positional arguments it takes.
type adminCommand struct {
	act     string
	args    []string // names of the positional arguments
	summary string
}

// adminCommands lists the subcommands of "cloak admin" by "noun verb".
var adminCommands = map[string]adminCommand{
	"user add": {"user/add", []string{"USER"},
		"create a user, print its access key and secret once [--policy P,...]"},
	"user list":    {"user/list", nil, "list users, their groups, policies and access keys"},
	"user disable": {"user/disable", []string{"USER"}, "refuse every request of a user"},
	"user enable":  {"user/enable", []string{"USER"}, "let a disabled user in again"},
	"user remove":  {"user/remove", []string{"USER"}, "delete a user and its keys"},
	"user rotate-key": {"user/rotate-key", []string{"USER"},
		"give a user a new key; old keys become inactive [--keep-old]"},
	"group add":         {"group/add", []string{"GROUP"}, "create a group [--policy P,...]"},
	"group remove":      {"group/remove", []string{"GROUP"}, "delete a group (its members leave it)"},
	"group list":        {"group/list", nil, "list groups with their members and policies"},
	"group add-user":    {"group/add-user", []string{"GROUP", "USER"}, "make a user a member of a group"},
	"group remove-user": {"group/remove-user", []string{"GROUP", "USER"}, "take a user out of a group"},
	"policy add": {"policy/add", []string{"POLICY", "FILE"},
		"add a policy from a JSON document (FILE, - for stdin)"},
	"policy remove": {"policy/remove", []string{"POLICY"}, "delete a policy attached nowhere"},
	"policy list":   {"policy/list", nil, "list built-in and added policies [--documents]"},
	"policy attach": {"policy/attach", []string{"POLICY"}, "attach a policy: --user U or --group G"},
	"policy detach": {"policy/detach", []string{"POLICY"}, "detach a policy: --user U or --group G"},
}

// adminCmd is one run of "cloak admin".
type adminCmd struct {
	cmd            adminCommand
	stdout, stderr io.Writer

	endpoint  string
	caBundle  string
	region    string
	policies  string
	user      string
	group     string
	keepOld   bool
	json      bool
	documents bool
}

// runAdmin is "cloak admin NOUN VERB [flags] ARGS".
func runAdmin(args []string, stdout, stderr io.Writer) int {
	if len(args) > 0 && (args[0] == "-h" || args[0] == "--help" || args[0] == "help") {
		adminUsage(stderr)
		return 0
	}
	if len(args) < 2 {
		adminUsage(stderr)
		return 2
	}
	name := args[0] + " " + args[1]
	c, ok := adminCommands[name]
	if !ok {
		fmt.Fprintf(stderr, "cloak admin: unknown command %q\n", name)
		adminUsage(stderr)
		return 2
	}
	a := &adminCmd{cmd: c, stdout: stdout, stderr: stderr}
	fs := flag.NewFlagSet("admin "+name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	a.flags(fs)
	fl := config.RegisterFlags(fs)
	pos, err := parseInterleaved(fs, args[2:])
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err == nil && len(pos) != len(c.args) {
		err = fmt.Errorf("takes %s, got %d arguments", strings.Join(c.args, " "), len(pos))
		if len(c.args) == 0 {
			err = fmt.Errorf("takes no arguments, got %d", len(pos))
		}
	}
	var cfg *config.Config
	if err == nil {
		cfg, err = fl.Load(os.LookupEnv)
	}
	if err != nil {
		fmt.Fprintf(stderr, "cloak admin %s: %v\n", name, err)
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := a.run(ctx, cfg, pos); err != nil {
		fmt.Fprintf(stderr, "cloak admin %s: %v\n", name, err)
		return 1
	}
	return 0
}

// parseInterleaved parses flags placed before, between or after the
// positional arguments, and returns the positional arguments.
func parseInterleaved(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for range len(args) + 1 {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		if fs.NArg() == 0 {
			break
		}
		pos = append(pos, fs.Arg(0))
		args = fs.Args()[1:]
	}
	return pos, nil
}

func adminUsage(w io.Writer) {
	fmt.Fprintln(w, "Usage: cloak admin <user|group|policy> <command> [flags] ARGS")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "Offline (default): works on the store and key provider configured as for")
	fmt.Fprintln(w, "cloak serve (each command takes its flags). Online: --endpoint URL sends the")
	fmt.Fprintln(w, "command to a running server, signed with CLOAK_ADMIN_ACCESS_KEY and")
	fmt.Fprintln(w, "CLOAK_ADMIN_SECRET_KEY (or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY).")
	fmt.Fprintln(w)
	names := make([]string, 0, len(adminCommands))
	for n := range adminCommands {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		c := adminCommands[n]
		fmt.Fprintf(w, "  %-18s %-13s %s\n", n, strings.Join(c.args, " "), c.summary)
	}
}

func (a *adminCmd) flags(fs *flag.FlagSet) {
	fs.StringVar(&a.endpoint, "endpoint", "",
		"send the command to the Cloak server at `URL` (online mode)")
	fs.StringVar(&a.caBundle, "ca-bundle", "", "PEM `file` of CAs trusted for --endpoint")
	fs.StringVar(&a.region, "region", "", "`region` to sign for with --endpoint (default: s3.region)")
	fs.BoolVar(&a.json, "json", false, "print JSON")
	switch a.cmd.act {
	case "user/add", "group/add":
		fs.StringVar(&a.policies, "policy", "", "`policies` to attach, comma-separated")
	case "user/rotate-key":
		fs.BoolVar(&a.keepOld, "keep-old", false, "keep the old keys active until the next rotation")
	case "policy/attach", "policy/detach":
		fs.StringVar(&a.user, "user", "", "the `user`")
		fs.StringVar(&a.group, "group", "", "the `group`")
	case "policy/list":
		fs.BoolVar(&a.documents, "documents", false, "print each policy's document")
	}
}

// run builds the act's arguments, runs it offline or online, and prints
// the result.
func (a *adminCmd) run(ctx context.Context, cfg *config.Config, pos []string) error {
	args, err := a.actArgs(pos)
	if err != nil {
		return err
	}
	if a.endpoint != "" {
		res, err := a.online(ctx, cfg, args)
		if err != nil {
			return err
		}
		return a.print(res)
	}
	// Offline, the act is recorded here, failed or not; online, the
	// server records the call.
	res, err := a.offline(ctx, cfg, args)
	rerr := a.record(ctx, cfg, args, err)
	if err == nil {
		err = a.print(res)
	}
	return errors.Join(err, rerr)
}

// record writes the audit record of an offline act that changes
// something; listing acts are not recorded.
func (a *adminCmd) record(ctx context.Context, cfg *config.Config, args adminapi.Args, failure error) error {
	if strings.HasSuffix(a.cmd.act, "/list") {
		return nil
	}
	rec := audit.Record{Action: "admin " + a.cmd.act, Detail: args.Describe()}
	if failure != nil {
		rec.Code = "Failed"
		rec.Detail += "; failed: " + failure.Error()
	}
	if err := auditAdmin(context.WithoutCancel(ctx), cfg, nil, rec); err != nil {
		return fmt.Errorf("the act was not recorded in the audit log: %w", err)
	}
	return nil
}

func (a *adminCmd) actArgs(pos []string) (adminapi.Args, error) {
	var args adminapi.Args
	at := func(name string) string {
		for i, n := range a.cmd.args {
			if n == name {
				return pos[i]
			}
		}
		return ""
	}
	args.User, args.Group, args.Policy = at("USER"), at("GROUP"), at("POLICY")
	args.Policies = splitComma(a.policies)
	args.KeepOld = a.keepOld
	if a.user != "" || a.group != "" {
		args.User, args.Group = a.user, a.group
	}
	if file := at("FILE"); file != "" {
		doc, err := readDocument(file)
		if err != nil {
			return args, err
		}
		args.Document = doc
	}
	return args, nil
}

func splitComma(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

// readDocument reads a policy document from a file or stdin ("-"),
// refusing one over the policy size limit.
func readDocument(file string) (json.RawMessage, error) {
	var r io.Reader = stdin
	if file != "-" {
		f, err := os.Open(file)
		if err != nil {
			return nil, err
		}
		defer f.Close()
		r = f
	}
	b, err := io.ReadAll(io.LimitReader(r, access.MaxPolicySize+1))
	if err != nil {
		return nil, err
	}
	if _, err := access.ParsePolicy(b); err != nil {
		return nil, err
	}
	return json.RawMessage(b), nil
}

// offline runs the act on the store directly.
func (a *adminCmd) offline(ctx context.Context, cfg *config.Config, args adminapi.Args) (any, error) {
	prov, err := openProviderForAdmin(ctx, cfg)
	if err != nil {
		return nil, err
	}
	defer prov.close()
	store, err := openStore(cfg)
	if err != nil {
		return nil, err
	}
	m, err := openAccess(ctx, cfg, store, prov, nil, nil)
	if err != nil {
		return nil, err
	}
	return adminapi.Run(ctx, m, a.cmd.act, args)
}

// openProviderForAdmin opens the key provider without creating a key
// ring: administration before the first "cloak serve" has nothing to
// seal the state under.
func openProviderForAdmin(ctx context.Context, cfg *config.Config) (keyProvider, error) {
	p, _, err := openProvider(ctx, cfg, false)
	if err != nil {
		return nil, fmt.Errorf("open the key provider (has cloak serve run once?): %w", err)
	}
	return p, nil
}

// online sends the act to a running server.
func (a *adminCmd) online(ctx context.Context, cfg *config.Config, args adminapi.Args) (any, error) {
	ak, sk := adminCredentials()
	if ak == "" || sk == "" {
		return nil, errors.New("set CLOAK_ADMIN_ACCESS_KEY and CLOAK_ADMIN_SECRET_KEY " +
			"(or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY) to use --endpoint")
	}
	hc, err := adminHTTPClient(a.caBundle)
	if err != nil {
		return nil, err
	}
	region := a.region
	if region == "" {
		region = cfg.S3.Region
	}
	c := &adminapi.Client{Endpoint: a.endpoint, Region: region, HTTP: hc,
		Credential: sigv4.Credential{AccessKey: ak, SecretKey: sk}}
	return c.Call(ctx, a.cmd.act, args)
}

func adminCredentials() (string, string) {
	if ak := os.Getenv("CLOAK_ADMIN_ACCESS_KEY"); ak != "" {
		return ak, os.Getenv("CLOAK_ADMIN_SECRET_KEY")
	}
	return os.Getenv("AWS_ACCESS_KEY_ID"), os.Getenv("AWS_SECRET_ACCESS_KEY")
}

// adminHTTPClient trusts the system's CAs and those of caBundle.
func adminHTTPClient(caBundle string) (*http.Client, error) {
	pool, err := x509.SystemCertPool()
	if err != nil {
		pool = x509.NewCertPool()
	}
	if caBundle != "" {
		pem, err := os.ReadFile(caBundle)
		if err != nil {
			return nil, err
		}
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("%s holds no PEM certificate", caBundle)
		}
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.TLSClientConfig = &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
	return &http.Client{Transport: tr, Timeout: 2 * time.Minute}, nil
}

// print shows an act's result.
func (a *adminCmd) print(res any) error {
	if a.json {
		enc := json.NewEncoder(a.stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(res)
	}
	tw := tabwriter.NewWriter(a.stdout, 0, 4, 2, ' ', 0)
	defer tw.Flush()
	switch r := res.(type) {
	case *access.NewKey:
		fmt.Fprintf(tw, "Access key of user %s (the secret key is shown only now):\n"+
			"  access key: %s\n  secret key: %s\n", r.User, r.AccessKey, r.SecretKey)
	case *[]access.UserInfo:
		fmt.Fprintln(tw, "USER\tSTATE\tGROUPS\tPOLICIES\tACCESS KEYS")
		for _, u := range *r {
			state := "enabled"
			if !u.Enabled {
				state = "disabled"
			}
			var keys []string
			for _, k := range u.Keys {
				keys = append(keys, k.AccessKey+" ("+k.Status+")")
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", u.Name, state, dash(u.Groups),
				dash(u.Policies), dash(keys))
		}
	case *[]access.GroupInfo:
		fmt.Fprintln(tw, "GROUP\tMEMBERS\tPOLICIES")
		for _, g := range *r {
			fmt.Fprintf(tw, "%s\t%s\t%s\n", g.Name, dash(g.Members), dash(g.Policies))
		}
	case *[]access.PolicyInfo:
		a.printPolicies(tw, *r)
	default:
		fmt.Fprintln(tw, "done")
	}
	return nil
}

func (a *adminCmd) printPolicies(w io.Writer, ps []access.PolicyInfo) {
	if a.documents {
		for _, p := range ps {
			fmt.Fprintf(w, "# %s\n%s\n\n", p.Name, p.Document)
		}
		return
	}
	fmt.Fprintln(w, "POLICY\tKIND\tATTACHED TO")
	for _, p := range ps {
		kind := "added"
		if p.Builtin {
			kind = "built-in"
		}
		fmt.Fprintf(w, "%s\t%s\t%s\n", p.Name, kind, dash(p.AttachedTo))
	}
}

func dash(list []string) string {
	if len(list) == 0 {
		return "-"
	}
	return strings.Join(list, ", ")
}

package config

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"reflect"
	"strings"

	"go.yaml.in/yaml/v3"
)

// EnvConfig names the environment variable that gives the configuration
// file when --config does not.
const EnvConfig = "CLOAK_CONFIG"

// Flags are the configuration flags registered on a flag.FlagSet by
// RegisterFlags. After the set is parsed, Load builds the Config.
type Flags struct {
	configFile string
	values     []*flagValue
}

// flagValue is a flag.Value that keeps the raw text of a flag and
// whether it was given, so that unset flags do not override the file or
// the environment.
type flagValue struct {
	f   *field
	raw string
	set bool
}

func (v *flagValue) String() string {
	if v == nil {
		return ""
	}
	return v.raw
}

func (v *flagValue) Set(s string) error {
	if err := v.f.set(Default(), s); err != nil { // parse now for a prompt error
		return err
	}
	v.raw, v.set = s, true
	return nil
}

func (v *flagValue) IsBoolFlag() bool { return v.f.kind == boolKind }

// RegisterFlags defines --config and one flag per non-credential field on
// fs (--listen, --data, --tls-cert, --insecure-http, ...: the field's
// path with dots and underscores as hyphens) and returns them for Load.
// Credentials have no flags, since command lines are visible to other
// users of the machine; use the environment or the file.
func RegisterFlags(fs *flag.FlagSet) *Flags {
	fl := &Flags{}
	fs.StringVar(&fl.configFile, "config", "",
		"configuration `file` (YAML); also $"+EnvConfig)
	def := Default() // unresolved: derived defaults are in the usage text
	for _, f := range fields {
		if !f.flag {
			continue
		}
		v := &flagValue{f: f, raw: f.get(def)}
		if f.kind == boolKind {
			v.raw = "" // help then omits "(default false)"
		}
		fl.values = append(fl.values, v)
		fs.Var(v, f.flagName(), f.usage+" (env "+f.env()+")")
	}
	return fl
}

// Load parses args with fs, on which it first registers the configuration
// flags, and returns the configuration built from them and env (see
// Flags.Load). A caller that adds its own flags registers them on fs
// before calling Load and reads them, and fs.Args, afterwards. With -h
// or --help it returns flag.ErrHelp.
func Load(fs *flag.FlagSet, args []string, env func(string) (string, bool)) (*Config, error) {
	fl := RegisterFlags(fs)
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	return fl.Load(env)
}

// Load builds the configuration from the defaults, then the file named
// by --config or $CLOAK_CONFIG, then the environment, then the flags
// given on the command line, each overriding the one before; fills in
// the defaults that depend on the data directory; and validates the
// result. env looks a variable up, like os.LookupEnv (nil means no
// environment); a variable set to the empty string counts as unset.
//
// Errors name the file and line, the variable, or the field's path. They
// never hold the value of a credential.
func (fl *Flags) Load(env func(string) (string, bool)) (*Config, error) {
	lookup := func(name string) string {
		if env == nil {
			return ""
		}
		v, _ := env(name)
		return v
	}
	c := Default()
	file := fl.configFile
	if file == "" {
		file = lookup(EnvConfig)
	}
	if file != "" {
		if err := loadFile(c, file); err != nil {
			return nil, err
		}
	}
	if err := applyEnv(c, lookup); err != nil {
		return nil, err
	}
	for _, v := range fl.values {
		if v.set {
			if err := v.f.set(c, v.raw); err != nil {
				return nil, fmt.Errorf("--%s: %w", v.f.flagName(), err)
			}
		}
	}
	c.resolve()
	if err := c.Validate(); err != nil {
		return nil, err
	}
	return c, nil
}

// applyEnv sets each field whose variable is set, and each credential
// whose variable_FILE names a file.
func applyEnv(c *Config, lookup func(string) string) error {
	var errs []error
	for _, f := range fields {
		name := f.env()
		raw := lookup(name)
		if f.fromFile() {
			if path := lookup(name + "_FILE"); path != "" {
				if raw != "" {
					errs = append(errs, fmt.Errorf("%s and %s_FILE are both set; use one",
						name, name))
					continue
				}
				v, err := readSecretFile(path)
				if err != nil {
					errs = append(errs, fmt.Errorf("%s_FILE: %w", name, err))
					continue
				}
				raw = v
			}
		}
		if raw == "" {
			continue
		}
		if err := f.set(c, raw); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", name, err))
		}
	}
	return errors.Join(errs...)
}

// maxSecretFile bounds what readSecretFile reads: credentials are short.
const maxSecretFile = 64 << 10

// readSecretFile returns the contents of a credential file without the
// trailing line break editors and echo add. Errors never quote the
// contents.
func readSecretFile(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", fmt.Errorf("failed to read credential file: %w", err)
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxSecretFile+1))
	if err != nil {
		return "", fmt.Errorf("failed to read credential file %s: %w", path, err)
	}
	if len(b) > maxSecretFile {
		return "", fmt.Errorf("credential file %s is larger than %d bytes", path, maxSecretFile)
	}
	s := strings.TrimRight(string(b), "\r\n")
	if s == "" {
		return "", fmt.Errorf("credential file %s is empty", path)
	}
	if strings.ContainsAny(s, "\r\n") {
		return "", fmt.Errorf("credential file %s holds more than one line", path)
	}
	return s, nil
}

// loadFile decodes the YAML file over c. Fields the file leaves out keep
// their value in c.
func loadFile(c *Config, path string) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("failed to read configuration: %w", err)
	}
	if err := decodeYAML(c, data); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	return nil
}

// decodeYAML decodes one YAML document over c. It checks every key and
// value against Config first, so that errors name the line and the
// field's path ("line 4: backend.s3.endpiont: unknown field"), then
// decodes with unknown fields refused.
func decodeYAML(c *Config, data []byte) error {
	var doc yaml.Node
	dec := yaml.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return nil // an empty file sets nothing
		}
		return err // "yaml: line 3: ...", with the line
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); !errors.Is(err, io.EOF) {
		return fmt.Errorf("line %d: more than one YAML document", extra.Line)
	}
	root := &doc
	if root.Kind == yaml.DocumentNode && len(root.Content) == 1 {
		root = root.Content[0]
	}
	if root.Kind == yaml.ScalarNode && root.Tag == "!!null" {
		return nil // a file of comments only
	}
	var errs []error
	checkNode(root, reflect.TypeFor[Config](), "", &errs)
	if len(errs) > 0 {
		return errors.Join(errs...)
	}
	strict := yaml.NewDecoder(bytes.NewReader(data))
	strict.KnownFields(true)
	return strict.Decode(c)
}

// checkNode reports, with line and path, each key of n that t has no
// field for and each value that does not decode into its field.
func checkNode(n *yaml.Node, t reflect.Type, path string, errs *[]error) {
	if n.Kind == yaml.AliasNode {
		n = n.Alias
	}
	if t.Kind() != reflect.Struct || t == reflect.TypeFor[Duration]() {
		if err := n.Decode(reflect.New(t).Interface()); err != nil {
			*errs = append(*errs, fmt.Errorf("line %d: %s: %s", n.Line, path,
				decodeMessage(err, t)))
		}
		return
	}
	if n.Kind != yaml.MappingNode {
		if n.Tag == "!!null" {
			return
		}
		*errs = append(*errs, fmt.Errorf("line %d: %s: must be a mapping of fields",
			n.Line, displayPath(path)))
		return
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		key, val := n.Content[i], n.Content[i+1]
		sub := key.Value
		if path != "" {
			sub = path + "." + key.Value
		}
		ft, ok := fieldByTag(t, key.Value)
		if !ok {
			*errs = append(*errs, fmt.Errorf("line %d: %s: unknown field", key.Line, sub))
			continue
		}
		checkNode(val, ft, sub, errs)
	}
}

func displayPath(path string) string {
	if path == "" {
		return "top level"
	}
	return path
}

// fieldByTag returns the type of t's field whose yaml tag is name.
func fieldByTag(t reflect.Type, name string) (reflect.Type, bool) {
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		tag, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
		if tag == name {
			return f.Type, true
		}
	}
	return nil, false
}

// decodeMessage turns a yaml decoding error of one value into a short
// phrase without the "yaml: unmarshal errors" and line prefixes, which
// the caller supplies. For a Secret it does not quote the value.
func decodeMessage(err error, t reflect.Type) string {
	var te *yaml.TypeError
	if !errors.As(err, &te) {
		return err.Error()
	}
	if t == reflect.TypeFor[Secret]() {
		return "must be a string"
	}
	msgs := make([]string, len(te.Errors))
	for i, m := range te.Errors {
		if _, rest, ok := strings.Cut(m, ": "); ok && strings.HasPrefix(m, "line ") {
			m = rest
		}
		msgs[i] = m
	}
	return strings.Join(msgs, "; ")
}

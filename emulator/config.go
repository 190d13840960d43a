package emulator

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"regexp"
	"strings"

	"go.yaml.in/yaml/v3"
)

// Config describes the accounts, principals, buckets and Access Grants that
// an emulator starts with. Its YAML form is the schema of emulator.md; keys
// this package does not know are rejected, so that a typo is an error rather
// than a silently ignored setting.
type Config struct {
	// Region is the default Region of the endpoint (us-east-1 when empty).
	Region string `yaml:"region"`
	// Accounts are the AWS accounts and their IAM principals and roles.
	Accounts []Account `yaml:"accounts"`
	// Buckets are created at start, each owned by one account in one Region.
	Buckets []Bucket `yaml:"buckets"`
	// AccessGrants seeds Access Grants instances, locations and grants.
	AccessGrants []Instance `yaml:"access_grants"`
}

// Account is one AWS account.
type Account struct {
	// ID is the 12-digit account ID.
	ID string `yaml:"id"`
	// Principals are the IAM users and roles that sign requests with
	// long-term access keys.
	Principals []Principal `yaml:"principals"`
	// Roles are the IAM roles that Access Grants locations may name and
	// that principals may assume with STS AssumeRole.
	Roles []Role `yaml:"roles"`
}

// Principal is an IAM user or role with an access key.
type Principal struct {
	// ARN is arn:aws:iam::ACCOUNT:user/NAME or arn:aws:iam::ACCOUNT:role/NAME.
	ARN string `yaml:"arn"`
	// AccessKeyID and SecretAccessKey sign the principal's requests.
	AccessKeyID     string `yaml:"access_key_id"`
	SecretAccessKey string `yaml:"secret_access_key"`
	// Allow lists what the principal may do; everything else is denied.
	Allow []Statement `yaml:"allow"`
}

// Statement is an IAM-like allow statement. Actions ("s3:GetObject",
// "s3:*", "*") and resources (ARNs) may use the wildcards * and ?.
type Statement struct {
	Actions   []string `yaml:"actions"`
	Resources []string `yaml:"resources"`
}

// Role is an IAM role that a location may name or a principal may assume.
type Role struct {
	// ARN is arn:aws:iam::ACCOUNT:role/NAME.
	ARN string `yaml:"arn"`
	// MaxSessionDuration in seconds bounds the credentials vended through
	// the role (3600 when zero; at most 43200).
	MaxSessionDuration int `yaml:"max_session_duration"`
	// Allow is what sessions of the role may do when a principal assumes
	// it (an extension of the schema; empty means nothing).
	Allow []Statement `yaml:"allow"`
}

// Bucket is an S3 bucket created at start.
type Bucket struct {
	Name    string `yaml:"name"`
	Account string `yaml:"account"`
	// Region defaults to the Config's Region.
	Region string `yaml:"region"`
}

// Instance seeds one Access Grants instance.
type Instance struct {
	Account string `yaml:"account"`
	// Region defaults to the Config's Region.
	Region string `yaml:"region"`
	// ResourcePolicyAccounts are the other accounts allowed to use the
	// instance (GetAccessGrantsInstanceForPrefix and GetDataAccess).
	ResourcePolicyAccounts []string   `yaml:"resource_policy_accounts"`
	Locations              []Location `yaml:"locations"`
	Grants                 []Grant    `yaml:"grants"`
}

// Location seeds a registered location.
type Location struct {
	// Scope is "s3://", "s3://bucket" or "s3://bucket/prefix".
	Scope string `yaml:"scope"`
	// Role is the IAM role ARN the service uses to vend credentials.
	Role string `yaml:"role"`
}

// Grant seeds a grant.
type Grant struct {
	// Location is the scope of a location of the same instance.
	Location string `yaml:"location"`
	// SubPrefix is joined to the location scope to make the grant scope.
	SubPrefix string `yaml:"sub_prefix"`
	// PrefixType "Object" makes the grant cover exactly one object (an
	// extension of the schema).
	PrefixType string  `yaml:"prefix_type"`
	Grantee    Grantee `yaml:"grantee"`
	// Permission is READ, WRITE or READWRITE.
	Permission string `yaml:"permission"`
}

// Grantee names who a grant is for.
type Grantee struct {
	// Type is IAM, DIRECTORY_USER or DIRECTORY_GROUP.
	Type       string `yaml:"type"`
	Identifier string `yaml:"identifier"`
}

// Default keys of the configuration used when none is given.
const (
	DefaultAccountID       = "111122223333"
	DefaultAccessKeyID     = "AKIAEXAMPLEADMIN0001"
	DefaultSecretAccessKey = "admin-secret"
	DefaultBucket          = "data-bucket"
	DefaultLocationRole    = "arn:aws:iam::111122223333:role/ag-location"
)

// DefaultConfig is the configuration of an emulator started without a
// config file: account 111122223333 with an admin principal allowed
// everything, a role that locations may name, and one bucket.
func DefaultConfig() *Config {
	return &Config{
		Region: "us-east-1",
		Accounts: []Account{{
			ID: DefaultAccountID,
			Principals: []Principal{{
				ARN:             "arn:aws:iam::111122223333:user/admin",
				AccessKeyID:     DefaultAccessKeyID,
				SecretAccessKey: DefaultSecretAccessKey,
				Allow:           []Statement{{Actions: []string{"*"}, Resources: []string{"*"}}},
			}},
			Roles: []Role{{ARN: DefaultLocationRole, MaxSessionDuration: 43200}},
		}},
		Buckets: []Bucket{{Name: DefaultBucket, Account: DefaultAccountID}},
	}
}

// ParseConfig parses and validates a YAML configuration.
func ParseConfig(data []byte) (*Config, error) {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	var cfg Config
	if err := dec.Decode(&cfg); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, errors.New("emulator: config is empty")
		}
		return nil, fmt.Errorf("emulator: parsing config: %w", err)
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	return &cfg, nil
}

// LoadConfig reads and parses a YAML configuration file.
func LoadConfig(path string) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("emulator: reading config: %w", err)
	}
	cfg, err := ParseConfig(data)
	if err != nil {
		return nil, fmt.Errorf("%w (in %s)", err, path)
	}
	return cfg, nil
}

var (
	accountIDPattern = regexp.MustCompile(`^[0-9]{12}$`)
	regionPattern    = regexp.MustCompile(`^[a-z]{2}(-[a-z]+)+-[0-9]+$`)
	principalPattern = regexp.MustCompile(`^arn:aws:iam::([0-9]{12}):(user|role)/[\w+=,.@/-]+$`)
	bucketPattern    = regexp.MustCompile(`^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$`)
	accessKeyPattern = regexp.MustCompile(`^[A-Z0-9]{16,128}$`)
)

// Validate checks the configuration and fills in defaults (the Region of
// buckets and instances). Errors name the offending entry.
func (c *Config) Validate() error {
	if c.Region == "" {
		c.Region = "us-east-1"
	}
	if !regionPattern.MatchString(c.Region) {
		return fmt.Errorf("emulator: config: region %q is not a Region name", c.Region)
	}
	accounts := map[string]bool{}
	keys := map[string]bool{}
	roles := map[string]*Role{}
	for i := range c.Accounts {
		a := &c.Accounts[i]
		if !accountIDPattern.MatchString(a.ID) {
			return fmt.Errorf("emulator: config: accounts[%d]: id %q is not a 12-digit account ID", i, a.ID)
		}
		if accounts[a.ID] {
			return fmt.Errorf("emulator: config: account %s is listed twice", a.ID)
		}
		accounts[a.ID] = true
		for j, p := range a.Principals {
			where := fmt.Sprintf("account %s: principals[%d]", a.ID, j)
			m := principalPattern.FindStringSubmatch(p.ARN)
			if m == nil {
				return fmt.Errorf("emulator: config: %s: arn %q is not an IAM user or role ARN", where, p.ARN)
			}
			if m[1] != a.ID {
				return fmt.Errorf("emulator: config: %s: arn %q belongs to another account", where, p.ARN)
			}
			if !accessKeyPattern.MatchString(p.AccessKeyID) {
				return fmt.Errorf("emulator: config: %s: access_key_id must be 16 to 128 upper-case letters and digits", where)
			}
			if strings.HasPrefix(p.AccessKeyID, "ASIA") {
				return fmt.Errorf("emulator: config: %s: access_key_id must not start with ASIA, which marks temporary keys", where)
			}
			if keys[p.AccessKeyID] {
				return fmt.Errorf("emulator: config: %s: access_key_id %s is used twice", where, p.AccessKeyID)
			}
			keys[p.AccessKeyID] = true
			if p.SecretAccessKey == "" {
				return fmt.Errorf("emulator: config: %s: secret_access_key is empty", where)
			}
			if err := validateStatements(p.Allow); err != nil {
				return fmt.Errorf("emulator: config: %s: %w", where, err)
			}
		}
		for j := range a.Roles {
			r := &a.Roles[j]
			where := fmt.Sprintf("account %s: roles[%d]", a.ID, j)
			m := principalPattern.FindStringSubmatch(r.ARN)
			if m == nil || m[2] != "role" || m[1] != a.ID {
				return fmt.Errorf("emulator: config: %s: arn %q is not a role ARN of this account", where, r.ARN)
			}
			if r.MaxSessionDuration == 0 {
				r.MaxSessionDuration = 3600
			}
			if r.MaxSessionDuration < 900 || r.MaxSessionDuration > 43200 {
				return fmt.Errorf("emulator: config: %s: max_session_duration %d is outside 900..43200", where, r.MaxSessionDuration)
			}
			if err := validateStatements(r.Allow); err != nil {
				return fmt.Errorf("emulator: config: %s: %w", where, err)
			}
			roles[r.ARN] = r
		}
	}
	buckets := map[string]bool{}
	for i := range c.Buckets {
		b := &c.Buckets[i]
		if !bucketPattern.MatchString(b.Name) || strings.Contains(b.Name, "..") {
			return fmt.Errorf("emulator: config: buckets[%d]: %q is not a valid bucket name", i, b.Name)
		}
		if buckets[b.Name] {
			return fmt.Errorf("emulator: config: bucket %s is listed twice", b.Name)
		}
		buckets[b.Name] = true
		if !accounts[b.Account] {
			return fmt.Errorf("emulator: config: bucket %s: account %q is not in accounts", b.Name, b.Account)
		}
		if b.Region == "" {
			b.Region = c.Region
		}
		if !regionPattern.MatchString(b.Region) {
			return fmt.Errorf("emulator: config: bucket %s: region %q is not a Region name", b.Name, b.Region)
		}
	}
	seen := map[string]bool{}
	for i := range c.AccessGrants {
		in := &c.AccessGrants[i]
		if !accounts[in.Account] {
			return fmt.Errorf("emulator: config: access_grants[%d]: account %q is not in accounts", i, in.Account)
		}
		if in.Region == "" {
			in.Region = c.Region
		}
		if !regionPattern.MatchString(in.Region) {
			return fmt.Errorf("emulator: config: access_grants[%d]: region %q is not a Region name", i, in.Region)
		}
		if seen[in.Account+"/"+in.Region] {
			return fmt.Errorf("emulator: config: access_grants[%d]: account %s already has an instance in %s", i, in.Account, in.Region)
		}
		seen[in.Account+"/"+in.Region] = true
		for _, a := range in.ResourcePolicyAccounts {
			if !accountIDPattern.MatchString(a) {
				return fmt.Errorf("emulator: config: access_grants[%d]: resource_policy_accounts: %q is not an account ID", i, a)
			}
		}
		scopes := map[string]bool{}
		for j, l := range in.Locations {
			if _, err := parseLocationScope(l.Scope); err != nil {
				return fmt.Errorf("emulator: config: access_grants[%d].locations[%d]: %w", i, j, err)
			}
			if scopes[l.Scope] {
				return fmt.Errorf("emulator: config: access_grants[%d]: location %s is listed twice", i, l.Scope)
			}
			scopes[l.Scope] = true
			if roles[l.Role] == nil {
				return fmt.Errorf("emulator: config: access_grants[%d].locations[%d]: role %q is not in any account's roles", i, j, l.Role)
			}
		}
		for j, g := range in.Grants {
			where := fmt.Sprintf("emulator: config: access_grants[%d].grants[%d]", i, j)
			if !scopes[g.Location] {
				return fmt.Errorf("%s: location %q is not a location of this instance", where, g.Location)
			}
			if _, err := grantScope(g.Location, g.SubPrefix); err != nil {
				return fmt.Errorf("%s: %w", where, err)
			}
			switch g.Permission {
			case "READ", "WRITE", "READWRITE":
			default:
				return fmt.Errorf("%s: permission %q is not READ, WRITE or READWRITE", where, g.Permission)
			}
			switch g.Grantee.Type {
			case "IAM":
				if !principalPattern.MatchString(g.Grantee.Identifier) {
					return fmt.Errorf("%s: grantee %q is not an IAM user or role ARN", where, g.Grantee.Identifier)
				}
			case "DIRECTORY_USER", "DIRECTORY_GROUP":
				if g.Grantee.Identifier == "" {
					return fmt.Errorf("%s: grantee identifier is empty", where)
				}
			default:
				return fmt.Errorf("%s: grantee type %q is not IAM, DIRECTORY_USER or DIRECTORY_GROUP", where, g.Grantee.Type)
			}
			if g.PrefixType != "" && g.PrefixType != "Object" {
				return fmt.Errorf("%s: prefix_type %q is not Object", where, g.PrefixType)
			}
		}
	}
	return nil
}

func validateStatements(sts []Statement) error {
	for i, s := range sts {
		if len(s.Actions) == 0 || len(s.Resources) == 0 {
			return fmt.Errorf("allow[%d]: a statement needs actions and resources", i)
		}
	}
	return nil
}

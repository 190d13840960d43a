package accessgrants

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3control"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	"github.com/aws/smithy-go/logging"
	"github.com/aws/smithy-go/metrics"
	"github.com/aws/smithy-go/tracing"
	"golang.org/x/sync/singleflight"
)

// Defaults of Options.
const (
	DefaultCacheSize   = 30_000
	DefaultDeniedTTL   = 5 * time.Minute
	DefaultMetadataTTL = time.Hour
)

// Limits of Options.Duration, those of GetDataAccess's DurationSeconds.
const (
	MinDuration = 15 * time.Minute
	MaxDuration = 12 * time.Hour
)

// metadataCacheSize bounds each of the caches of caller accounts, bucket
// Regions and instance owners.
const metadataCacheSize = 10_000

// Options configures a Plugin. The zero value of every field selects the
// default stated in its comment.
type Options struct {
	// FallbackEnabled signs a request with the client's own credentials
	// when Access Grants fails for it (AccessDenied included), instead of
	// failing it with an *Error. Default false. Requests that Access Grants
	// does not serve use the client's own credentials either way.
	FallbackEnabled bool

	// Privilege asks GetDataAccess for credentials covering the whole
	// matched grant (PrivilegeDefault, the default) or only the requested
	// target (PrivilegeMinimal).
	Privilege Privilege

	// Duration is the lifetime asked for vended credentials: 0 (the
	// default) leaves it to the service, which vends one hour; otherwise
	// 15 minutes to 12 hours, within the location role's maximum session
	// duration.
	Duration time.Duration

	// DisableCrossRegion skips finding a bucket's Region with HeadBucket and
	// assumes every bucket is in the Region of the S3 client that makes the
	// request. Default false.
	DisableCrossRegion bool

	// AccountID is the caller's account, used when the client's
	// credentials do not carry one (aws.Credentials.AccountID), so that no
	// STS GetCallerIdentity call is needed. Default "": ask STS, once per
	// identity.
	AccountID string

	// CacheSize bounds the number of cached credentials; the least recently
	// used are evicted. Default 30,000.
	CacheSize int

	// DeniedTTL is how long an AccessDenied from GetDataAccess is
	// remembered for an identity, permission and target. Default 5 minutes.
	DeniedTTL time.Duration

	// MetadataTTL is how long caller accounts, bucket Regions and instance
	// owners are cached. Default 1 hour.
	MetadataTTL time.Duration

	// Logger receives one line per resolution decision, classified
	// logging.Debug, never with a secret. Default: cfg.Logger, but only
	// when cfg.ClientLogMode asks the SDK to log something, since
	// config.LoadDefaultConfig always sets a logger that writes to stderr.
	Logger logging.Logger

	// MeterProvider receives the plugin's metrics (see the README for
	// every instrument). aws.Config carries none: by default each
	// registered client's own s3.Options.MeterProvider is used for its
	// requests, and the no-op provider for Credentials. Plug in the SDK's
	// OpenTelemetry adapter here or on the S3 client.
	MeterProvider metrics.MeterProvider

	// TracerProvider receives a span around each request's Access Grants
	// resolution, whose children are the control-plane calls. Default as
	// for MeterProvider, from each registered client.
	TracerProvider tracing.TracerProvider
}

// Plugin signs the requests of aws-sdk-go-v2 S3 clients with S3 Access
// Grants credentials. Create it with New, attach it to clients with
// Register, and share it: its caches serve every client it is registered
// on, keeping each identity's credentials apart. A Plugin is safe for
// concurrent use.
type Plugin struct {
	cfg  aws.Config
	opts Options
	now  func() time.Time // the clock; tests move it with the emulator's

	creds    *credCache
	denied   *ttlCache[deniedKey, error]
	accounts *ttlCache[string, string]   // identity → caller account
	regions  *ttlCache[string, string]   // bucket → Region
	owners   *ttlCache[ownerKey, string] // (caller account, bucket) → instance owner account

	flight singleflight.Group

	sts       *sts.Client
	headS3    *s3.Client // HeadBucket, without the plugin
	controlMu sync.Mutex
	controls  map[string]*s3control.Client // by Region

	// background refreshes run under ctx and are waited for by Close.
	ctx      context.Context
	cancel   context.CancelFunc
	inFlight sync.WaitGroup

	idMemo identityMemo

	// tel is the telemetry of Options' providers (no-op by default), for
	// Credentials and for clients without providers of their own.
	tel *telemetry

	// fetching counts cold-path resolutions running now.
	fetching atomic.Int64

	counters counters
}

type deniedKey struct {
	identity string
	perm     Permission
	target   string
}

type ownerKey struct {
	account string
	bucket  string
}

// New returns a Plugin whose own calls (STS GetCallerIdentity, S3
// HeadBucket, S3 Control GetAccessGrantsInstanceForPrefix and
// GetDataAccess) use cfg: its Region, endpoints, HTTP client, retryer,
// logger and providers. cfg's credentials are not used by the plugin:
// each request's calls are signed with the credentials of the S3 client
// that makes it. Invalid options are an error.
func New(cfg aws.Config, optFns ...func(*Options)) (*Plugin, error) {
	var o Options
	for _, fn := range optFns {
		fn(&o)
	}
	if err := o.setDefaults(cfg); err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	p := &Plugin{
		cfg:      cfg,
		opts:     o,
		now:      time.Now,
		creds:    newCredCache(o.CacheSize),
		denied:   newTTLCache[deniedKey, error](o.CacheSize),
		accounts: newTTLCache[string, string](metadataCacheSize),
		regions:  newTTLCache[string, string](metadataCacheSize),
		owners:   newTTLCache[ownerKey, string](metadataCacheSize),
		controls: map[string]*s3control.Client{},
		ctx:      ctx,
		cancel:   cancel,
	}
	p.tel = newTelemetry(o.MeterProvider, o.TracerProvider)
	p.sts = sts.NewFromConfig(cfg, p.ownCallOptions)
	p.headS3 = s3.NewFromConfig(cfg, func(o *s3.Options) {
		if o.Region == "" {
			o.Region = "us-east-1"
		}
		o.APIOptions = append(o.APIOptions, addUserAgent)
	})
	return p, nil
}

// setDefaults validates the options and fills in their defaults.
func (o *Options) setDefaults(cfg aws.Config) error {
	switch o.Privilege {
	case "":
		o.Privilege = PrivilegeDefault
	case PrivilegeDefault, PrivilegeMinimal:
	default:
		return fmt.Errorf("s3 access grants: Options.Privilege %q is not %q or %q", o.Privilege, PrivilegeDefault, PrivilegeMinimal)
	}
	if o.Duration != 0 && (o.Duration < MinDuration || o.Duration > MaxDuration) {
		return fmt.Errorf("s3 access grants: Options.Duration %v is outside %v to %v", o.Duration, MinDuration, MaxDuration)
	}
	if o.Duration%time.Second != 0 {
		return fmt.Errorf("s3 access grants: Options.Duration %v is not a whole number of seconds", o.Duration)
	}
	if o.AccountID != "" && !isAccountID(o.AccountID) {
		return fmt.Errorf("s3 access grants: Options.AccountID %q is not a 12-digit account ID", o.AccountID)
	}
	switch {
	case o.CacheSize == 0:
		o.CacheSize = DefaultCacheSize
	case o.CacheSize < 0:
		return fmt.Errorf("s3 access grants: Options.CacheSize %d is negative", o.CacheSize)
	}
	switch {
	case o.DeniedTTL == 0:
		o.DeniedTTL = DefaultDeniedTTL
	case o.DeniedTTL < 0:
		return fmt.Errorf("s3 access grants: Options.DeniedTTL %v is negative", o.DeniedTTL)
	}
	switch {
	case o.MetadataTTL == 0:
		o.MetadataTTL = DefaultMetadataTTL
	case o.MetadataTTL < 0:
		return fmt.Errorf("s3 access grants: Options.MetadataTTL %v is negative", o.MetadataTTL)
	}
	if o.Logger == nil && cfg.ClientLogMode != 0 {
		o.Logger = cfg.Logger
	}
	return nil
}

func isAccountID(s string) bool {
	if len(s) != 12 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// Close stops background refreshes and waits for them to end. The plugin
// keeps signing requests after Close, without refreshing ahead. Calling
// Close is optional: a plugin that is no longer referenced holds no
// goroutine once its refreshes are done.
func (p *Plugin) Close() error {
	p.cancel()
	p.inFlight.Wait()
	return nil
}

// ownCallOptions applies to the STS client's options.
func (p *Plugin) ownCallOptions(o *sts.Options) {
	o.APIOptions = append(o.APIOptions, addUserAgent)
}

// control returns the S3 Control client for a Region, made once from cfg.
func (p *Plugin) control(region string) *s3control.Client {
	p.controlMu.Lock()
	defer p.controlMu.Unlock()
	c, ok := p.controls[region]
	if !ok {
		c = s3control.NewFromConfig(p.cfg, func(o *s3control.Options) {
			o.Region = region
			o.APIOptions = append(o.APIOptions, addUserAgent)
		})
		p.controls[region] = c
	}
	return c
}

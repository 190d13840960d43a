package accessgrants_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"net/url"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/s3/transfermanager"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	accessgrants "github.com/s3ag/accessgrants"
	"github.com/s3ag/accessgrants/emulator"
)

// exampleYAML is a small world for the examples: an application role with
// READ on data-bucket/reports/ and READWRITE on data-bucket/work/.
const exampleYAML = `
accounts:
  - id: "111122223333"
    principals:
      - arn: arn:aws:iam::111122223333:role/app
        access_key_id: AKIAAPPEXAMPLE000001
        secret_access_key: app-secret
        allow:
          - {actions: ["s3:GetDataAccess", "s3:GetAccessGrantsInstanceForPrefix"], resources: ["*"]}
          - {actions: ["s3:PutObject"], resources: ["arn:aws:s3:::data-bucket/reports/*"]}
    roles:
      - arn: arn:aws:iam::111122223333:role/ag-location
buckets:
  - {name: data-bucket, account: "111122223333"}
access_grants:
  - account: "111122223333"
    locations:
      - {scope: "s3://data-bucket", role: "arn:aws:iam::111122223333:role/ag-location"}
    grants:
      - {location: "s3://data-bucket", sub_prefix: "reports/*", permission: READ,
         grantee: {type: IAM, identifier: "arn:aws:iam::111122223333:role/app"}}
      - {location: "s3://data-bucket", sub_prefix: "work/*", permission: READWRITE,
         grantee: {type: IAM, identifier: "arn:aws:iam::111122223333:role/app"}}
`

// startExample starts an emulator with exampleYAML and an object, and
// returns it with the application's aws.Config. A real program loads its
// configuration with config.LoadDefaultConfig instead.
func startExample() (*emulator.Server, aws.Config) {
	cfg, err := emulator.ParseConfig([]byte(exampleYAML))
	if err != nil {
		log.Fatal(err)
	}
	srv, err := emulator.Start(cfg, "127.0.0.1:0")
	if err != nil {
		log.Fatal(err)
	}
	app := srv.AWSConfig("AKIAAPPEXAMPLE000001")
	// Seed two objects, written with grant credentials for work/.
	p, _ := accessgrants.New(app)
	defer p.Close()
	seed := s3.NewFromConfig(app, p.Register)
	for _, key := range []string{"work/q1.csv", "work/draft.txt"} {
		if _, err := seed.PutObject(context.Background(), &s3.PutObjectInput{
			Bucket: aws.String("data-bucket"), Key: aws.String(key), Body: strings.NewReader("id,total\n1,42\n"),
		}); err != nil {
			log.Fatal(err)
		}
	}
	srv.ResetCalls()
	return srv, app
}

func ExampleNew() {
	srv, cfg := startExample()
	defer srv.Close()
	ctx := context.Background()

	// cfg configures the plugin's own STS, S3 and S3 Control clients.
	plugin, err := accessgrants.New(cfg, func(o *accessgrants.Options) {
		o.Privilege = accessgrants.PrivilegeDefault
	})
	if err != nil {
		log.Fatal(err)
	}
	defer plugin.Close()
	client := s3.NewFromConfig(cfg, plugin.Register)

	for _, key := range []string{"work/q1.csv", "work/draft.txt"} {
		out, err := client.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("data-bucket"), Key: aws.String(key)})
		if err != nil {
			log.Fatal(err)
		}
		out.Body.Close()
	}
	st := plugin.Stats()
	fmt.Printf("granted %d, cached %d, GetDataAccess calls %d\n", st.Granted, st.Cached, srv.Calls()["GetDataAccess"])
	// Output: granted 1, cached 1, GetDataAccess calls 1
}

func ExamplePlugin_Register() {
	srv, cfg := startExample()
	defer srv.Close()

	plugin, err := accessgrants.New(cfg)
	if err != nil {
		log.Fatal(err)
	}
	// One line: every supported request of this client is now signed with
	// Access Grants credentials for exactly the data it touches.
	client := s3.NewFromConfig(cfg, plugin.Register)

	out, err := client.GetObject(context.Background(), &s3.GetObjectInput{
		Bucket: aws.String("data-bucket"), Key: aws.String("work/q1.csv"),
	})
	if err != nil {
		log.Fatal(err)
	}
	defer out.Body.Close()
	body, _ := io.ReadAll(out.Body)
	fmt.Print(string(body))
	// Output:
	// id,total
	// 1,42
}

// With fallback on, a request that Access Grants refuses is signed with
// the client's own credentials, as the boto3 plugin's fallback_enabled
// does; without it, the refusal is an *accessgrants.Error.
func ExampleOptions_fallback() {
	srv, cfg := startExample()
	defer srv.Close()
	ctx := context.Background()
	put := func(client *s3.Client) error {
		_, err := client.PutObject(ctx, &s3.PutObjectInput{
			Bucket: aws.String("data-bucket"), Key: aws.String("reports/q2.csv"), Body: strings.NewReader("id,total\n"),
		})
		return err
	}

	strict, _ := accessgrants.New(cfg)
	var agErr *accessgrants.Error
	if err := put(s3.NewFromConfig(cfg, strict.Register)); errors.As(err, &agErr) {
		fmt.Println("without fallback:", agErr.ErrorCode(), agErr.Permission, agErr.Target)
	}

	lenient, _ := accessgrants.New(cfg, func(o *accessgrants.Options) { o.FallbackEnabled = true })
	if err := put(s3.NewFromConfig(cfg, lenient.Register)); err == nil {
		fmt.Println("with fallback: written with the client's own credentials")
	}
	// Output:
	// without fallback: AccessDenied WRITE s3://data-bucket/reports/q2.csv
	// with fallback: written with the client's own credentials
}

// Programs that are not S3 clients of this SDK ask for credentials
// directly, through the same caches.
func ExamplePlugin_Credentials() {
	srv, cfg := startExample()
	defer srv.Close()

	plugin, _ := accessgrants.New(cfg)
	creds, err := plugin.Credentials(context.Background(), "s3://data-bucket/reports/*", accessgrants.PermissionRead)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(creds.Source, strings.HasPrefix(creds.AccessKeyID, "ASIA"), creds.CanExpire)
	// Output: S3AccessGrants true true
}

// A presigned URL carries the Access Grants credentials of its target.
func ExamplePlugin_Register_presign() {
	srv, cfg := startExample()
	defer srv.Close()

	plugin, _ := accessgrants.New(cfg)
	client := s3.NewFromConfig(cfg, plugin.Register)
	req, err := s3.NewPresignClient(client).PresignGetObject(context.Background(), &s3.GetObjectInput{
		Bucket: aws.String("data-bucket"), Key: aws.String("work/q1.csv"),
	})
	if err != nil {
		log.Fatal(err)
	}
	u, _ := url.Parse(req.URL)
	fmt.Println(strings.HasPrefix(u.Query().Get("X-Amz-Credential"), "ASIA"))
	// Output: true
}

// The transfer manager's parts and ranges go through the registered
// client, so each is signed with Access Grants credentials.
func ExamplePlugin_Register_transferManager() {
	srv, cfg := startExample()
	defer srv.Close()

	plugin, _ := accessgrants.New(cfg)
	tm := transfermanager.New(s3.NewFromConfig(cfg, plugin.Register), func(o *transfermanager.Options) {
		o.PartSizeBytes = 5 << 20
		o.MultipartUploadThreshold = 5 << 20
	})
	_, err := tm.UploadObject(context.Background(), &transfermanager.UploadObjectInput{
		Bucket: aws.String("data-bucket"), Key: aws.String("work/big.bin"), Body: bytes.NewReader(make([]byte, 11<<20)),
	})
	if err != nil {
		log.Fatal(err)
	}
	calls := srv.Calls()
	fmt.Println("parts:", calls["UploadPart"], "GetDataAccess calls:", calls["GetDataAccess"])
	// Output: parts: 3 GetDataAccess calls: 1
}

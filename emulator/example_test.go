package emulator_test

import (
	"context"
	"fmt"
	"log"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3control"

	"github.com/s3ag/accessgrants/emulator"
)

// In a test, emulator.NewServer(t, cfg) does the same and closes the
// server in t.Cleanup.
func ExampleStart() {
	cfg, err := emulator.ParseConfig([]byte(`
accounts:
  - id: "111122223333"
    principals:
      - arn: arn:aws:iam::111122223333:user/admin
        access_key_id: AKIAEXAMPLEADMIN0001
        secret_access_key: admin-secret
        allow: [{actions: ["*"], resources: ["*"]}]
    roles:
      - arn: arn:aws:iam::111122223333:role/ag-location
buckets:
  - {name: data-bucket, account: "111122223333"}
access_grants:
  - account: "111122223333"
    locations:
      - {scope: "s3://", role: "arn:aws:iam::111122223333:role/ag-location"}
    grants:
      - {location: "s3://", sub_prefix: "data-bucket/reports/*", permission: READ,
         grantee: {type: IAM, identifier: "arn:aws:iam::111122223333:user/admin"}}
`))
	if err != nil {
		log.Fatal(err)
	}
	srv, err := emulator.Start(cfg, "127.0.0.1:0")
	if err != nil {
		log.Fatal(err)
	}
	defer srv.Close()
	ctx := context.Background()
	awsCfg := srv.AWSConfig("AKIAEXAMPLEADMIN0001") // reaches S3 Control's account-prefixed host too

	out, err := s3control.NewFromConfig(awsCfg).GetDataAccess(ctx, &s3control.GetDataAccessInput{
		AccountId:  aws.String("111122223333"),
		Target:     aws.String("s3://data-bucket/reports/q1.csv"),
		Permission: "READ",
	})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("matched", aws.ToString(out.MatchedGrantTarget))

	// The vended credentials read inside the grant, and nowhere else.
	vended := awsCfg.Copy()
	c := out.Credentials
	vended.Credentials = aws.CredentialsProviderFunc(func(context.Context) (aws.Credentials, error) {
		return aws.Credentials{AccessKeyID: *c.AccessKeyId, SecretAccessKey: *c.SecretAccessKey, SessionToken: *c.SessionToken}, nil
	})
	_, err = s3.NewFromConfig(vended).PutObject(ctx, &s3.PutObjectInput{
		Bucket: aws.String("data-bucket"), Key: aws.String("reports/q1.csv"), Body: strings.NewReader("x"),
	})
	fmt.Println("write with READ credentials refused:", err != nil)
	fmt.Println("GetDataAccess calls:", srv.Calls()["GetDataAccess"])
	// Output:
	// matched s3://data-bucket/reports/*
	// write with READ credentials refused: true
	// GetDataAccess calls: 1
}

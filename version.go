package accessgrants

import (
	awsmiddleware "github.com/aws/aws-sdk-go-v2/aws/middleware"
)

// Version is the version of this module, reported in the user agent of
// every request the plugin makes or signs (lib/s3ag#VERSION).
const Version = "0.1.0"

// userAgentName is the plugin's name in user agents.
const userAgentName = "s3ag"

// addUserAgent adds lib/s3ag#Version to a client's user agent. It runs
// for every operation, so it is made once.
var addUserAgent = awsmiddleware.AddSDKAgentKeyValue(awsmiddleware.FrameworkMetadata, userAgentName, Version)

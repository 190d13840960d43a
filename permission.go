package accessgrants

// Permission is the access level an S3 request needs from Access Grants.
type Permission string

// The permissions of S3 Access Grants. A READWRITE grant satisfies requests
// for READ, WRITE and READWRITE.
const (
	PermissionRead      Permission = "READ"
	PermissionWrite     Permission = "WRITE"
	PermissionReadWrite Permission = "READWRITE"
)

// Satisfies reports whether credentials vended for p may serve a request that
// needs want: a permission satisfies itself, and READWRITE satisfies all three.
func (p Permission) Satisfies(want Permission) bool {
	return p == want || p == PermissionReadWrite
}

// valid reports whether p is one of the three permissions.
func (p Permission) valid() bool {
	return p == PermissionRead || p == PermissionWrite || p == PermissionReadWrite
}

// Privilege selects how much the vended credentials cover.
type Privilege string

// The privileges of GetDataAccess.
const (
	// PrivilegeDefault asks for credentials covering the whole matched grant
	// scope, so that one call serves every request under that grant.
	PrivilegeDefault Privilege = "Default"
	// PrivilegeMinimal asks for credentials covering only the requested
	// target. Object targets are sent with TargetType=Object.
	PrivilegeMinimal Privilege = "Minimal"
)

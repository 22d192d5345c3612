// Package version holds hookworker's version, sent in the User-Agent.
package version

// Version is hookworker's release version.
const Version = "0.1.0"

"""Service accounts shared by the deploys that create them and the ones that run as them."""

# Owns the served tree and runs the publisher. Its group is shared with the upload account,
# so what rsync writes into the incoming directory is the publisher's to read.
PUBLISHER_USER = "difusor"
# rsync's daemon writes the institute's uploads as this account (group PUBLISHER_USER).
UPLOAD_ACCOUNT = "prep-upload"
NOLOGIN = "/usr/sbin/nologin"

# Settings for ./test.sh: PostgreSQL 55432, MariaDB 53306, s3rver 54566, data in .data/test (see env.sh).
# Exports KP_TEST_POSTGRES, KP_TEST_MYSQL, KP_TEST_S3_URL for the tests.
KP_PROFILE=test
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"

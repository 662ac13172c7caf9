# Settings for ./run.sh: PostgreSQL 5432, MariaDB 3306, s3rver 4566, data in .data/run (see env.sh).
KP_PROFILE=run
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"

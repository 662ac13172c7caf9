# Run once by the postgres image's entrypoint when it initialises a new data directory (/docker-entrypoint-initdb.d).
# The image's pg_hba.conf admits every host to every database, but "all" does not cover replication connections:
# logical replication from the services (on the host, through Docker's bridge network) needs its own line.
echo "host replication all all scram-sha-256" >> "$PGDATA/pg_hba.conf"

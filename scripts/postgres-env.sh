# Sourced by `make test`: where the test PostgreSQL server started by scripts/postgres.sh listens.
export DSC_TEST_PG_URL="postgresql://postgres@127.0.0.1:${DSC_TEST_PG_PORT:-54329}/opendsc_test"

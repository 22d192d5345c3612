# hookworker's image: both commands, `worker` (the entrypoint) and `enqueue`,
# statically linked, on distroless as a non-root user.
#
#   docker build -t hookworker .
#   docker run --rm -p 127.0.0.1:8080:8080 -e OPS_BASIC_AUTH=admin:change-me hookworker   # embedded mode, to try it
#   docker compose up --build                               # with PostgreSQL, Redis and Mailpit

FROM golang:1.26 AS build
WORKDIR /src
# Dependencies first, so code changes do not download them again.
COPY go.mod go.sum ./
RUN go mod download
COPY . .
# Pure Go (the embedded SQLite driver too): no C toolchain, no libc.
ENV CGO_ENABLED=0
RUN go build -trimpath -ldflags="-s -w" -o /out/ ./cmd/worker ./cmd/enqueue

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/worker /out/enqueue /usr/local/bin/
# The embedded SQLite file (when DATABASE_URL is unset) goes here.
WORKDIR /home/nonroot
USER nonroot:nonroot
# The operator server must listen beyond the container's loopback. It then
# refuses to start without credentials: pass -e OPS_BASIC_AUTH=user:pass, or
# -e OPS_INSECURE=true only when a proxy or network policy guards the port.
ENV HTTP_ADDR=0.0.0.0:8080
ENV OPS_INSECURE=false
EXPOSE 8080
ENTRYPOINT ["/usr/local/bin/worker"]
HEALTHCHECK --interval=10s --timeout=5s --start-period=15s --retries=3 CMD ["/usr/local/bin/worker", "healthcheck"]

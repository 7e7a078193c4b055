# Builds the cloak binary into a small image. Used by docker-compose.yml.
FROM golang:1.26 AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN CGO_ENABLED=0 go build -trimpath -o /out/cloak . && mkdir -p /out/data

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/cloak /cloak
# The data volume must be writable by the non-root user.
COPY --from=build --chown=nonroot:nonroot /out/data /data
USER nonroot
EXPOSE 9443
ENTRYPOINT ["/cloak", "serve"]

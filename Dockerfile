# syntax=docker/dockerfile:1
# claimbot: a static binary on a distroless, non-root base, with the flows
# and locales inside. Production settings come from the environment (see
# README.md); docker-compose.yml runs it with Redis.
FROM golang:1.26 AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN CGO_ENABLED=0 go build -trimpath -ldflags="-s -w" -o /out/claimbot ./bot
RUN mkdir -p /out/uploads

FROM gcr.io/distroless/static-debian12:nonroot
WORKDIR /app
COPY --from=build /out/claimbot /app/claimbot
COPY flows /app/flows
COPY locales /app/locales
# Evidence files (CLAIMBOT_UPLOADS), owned by the user the server runs as,
# so that a volume mounted here starts writable.
COPY --from=build --chown=nonroot:nonroot /out/uploads /var/lib/claimbot/uploads
USER nonroot:nonroot
ENV CLAIMBOT_ADDR=:8080 CLAIMBOT_FLOWS=/app/flows CLAIMBOT_LOCALES=/app/locales
EXPOSE 8080
ENTRYPOINT ["/app/claimbot"]
CMD ["serve"]

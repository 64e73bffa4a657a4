// Package deploy holds what operators load next to the bot: Prometheus
// alert rules (alerts.yml, unit-tested in alerts_test.yml) and a Grafana
// dashboard (grafana-dashboard.json). It has no code; its tests check the
// files with promtool and check every metric name they use against the
// /metrics of a running server.
package deploy

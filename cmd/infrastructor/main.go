package main

import (
	_ "github.com/gofiber/contrib/websocket"
	_ "github.com/gofiber/fiber/v2"
	_ "github.com/jackc/pgx/v5"
	_ "github.com/mark3labs/mcp-go/server"
	_ "github.com/stretchr/testify/require"
	_ "go.temporal.io/sdk/client"
	_ "golang.org/x/crypto/ssh"
	_ "github.com/google/uuid"
	_ "github.com/mattn/go-isatty"
	_ "github.com/prometheus/client_golang/prometheus"
)

func main() {}

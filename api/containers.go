package api

import "github.com/gofiber/fiber/v2"

// containerRoutes registers the container inventory, details and logs.
func (s *Server) containerRoutes(v1 fiber.Router) {}

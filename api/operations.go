package api

import "github.com/gofiber/fiber/v2"

// operationRoutes registers container actions and the operations resource.
func (s *Server) operationRoutes(v1 fiber.Router) {}

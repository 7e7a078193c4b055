module github.com/cloakproxy/cloak

go 1.26

module example.com/app

go 1.22

require (
	example.com/mitlib v1.0.0
	example.com/oddlib v1.0.0
	example.com/notdownloaded v1.0.0 // indirect
)

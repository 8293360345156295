// Command helicase-example submits a workflow (the design's JSON shape) to a Helicase api,
// follows it with WatchWorkflow until it ends, and prints the final workflow as JSON.
//
//	HELICASE_TOKEN=hlc_... go run ./cmd/helicase-example -api 127.0.0.1:50051 -file ../../examples/hello.json
//
// The token (an API key or a JWT) comes from -token or $HELICASE_TOKEN and travels as
// `authorization: Bearer <token>` on every call.
//
// It exits 0 once the workflow reached a terminal state (whatever that state is), non-zero when
// the api refuses the request or cannot be reached.
package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"flag"
	"fmt"
	"io"
	"os"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/protobuf/encoding/protojson"

	"github.com/helicase/helicase/clients/go/auth"
	helicasev1 "github.com/helicase/helicase/clients/go/gen/helicase/v1"
)

var terminal = map[helicasev1.WorkflowState]bool{
	helicasev1.WorkflowState_WORKFLOW_STATE_COMPLETED: true,
	helicasev1.WorkflowState_WORKFLOW_STATE_FAILED:    true,
	helicasev1.WorkflowState_WORKFLOW_STATE_CANCELED:  true,
}

func main() {
	addr := flag.String("api", envOr("HELICASE_API_ADDR", "127.0.0.1:50051"), "address of the api")
	file := flag.String("file", "", "workflow JSON (a CreateWorkflowRequest)")
	within := flag.Duration("within", 2*time.Minute, "how long to wait for the workflow to end")
	// Not the flag's default: -help would print the token.
	token := flag.String("token", "", "API key or JWT (default $HELICASE_TOKEN)")
	flag.Parse()
	if *token == "" {
		*token = auth.TokenFromEnv()
	}
	if err := run(*addr, *file, *token, *within); err != nil {
		fmt.Fprintln(os.Stderr, "error:", err)
		os.Exit(1)
	}
}

func run(addr, file, token string, within time.Duration) error {
	raw, err := os.ReadFile(file)
	if err != nil {
		return err
	}
	request := &helicasev1.CreateWorkflowRequest{}
	if err := protojson.Unmarshal(raw, request); err != nil {
		return fmt.Errorf("%s: %w", file, err)
	}
	if request.GetRequestId() == "" {
		request.RequestId = newRequestID()
	}

	conn, err := grpc.NewClient(addr,
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithPerRPCCredentials(auth.Bearer(token)))
	if err != nil {
		return err
	}
	defer conn.Close()
	client := helicasev1.NewWorkflowServiceClient(conn)

	ctx, cancel := context.WithTimeout(context.Background(), within)
	defer cancel()
	created, err := client.CreateWorkflow(ctx, request, grpc.WaitForReady(true))
	if err != nil {
		return fmt.Errorf("CreateWorkflow: %w", err)
	}
	id := created.GetWorkflow().GetId()
	fmt.Fprintln(os.Stderr, "created", id)

	stream, err := client.WatchWorkflow(ctx, &helicasev1.WatchWorkflowRequest{Id: id})
	if err != nil {
		return fmt.Errorf("WatchWorkflow: %w", err)
	}
	var last *helicasev1.Workflow
	for {
		response, err := stream.Recv()
		if err == io.EOF {
			break
		}
		if err != nil {
			return fmt.Errorf("WatchWorkflow: %w", err)
		}
		last = response.GetWorkflow()
		fmt.Fprintln(os.Stderr, "state", last.GetState())
		if terminal[last.GetState()] {
			break
		}
	}
	if last == nil || !terminal[last.GetState()] {
		return fmt.Errorf("workflow %s did not end", id)
	}
	out, err := protojson.Marshal(last)
	if err != nil {
		return err
	}
	fmt.Println(string(out))
	return nil
}

func newRequestID() string {
	b := make([]byte, 16)
	if _, err := rand.Read(b); err != nil {
		panic(err)
	}
	return hex.EncodeToString(b)
}

func envOr(name, fallback string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return fallback
}

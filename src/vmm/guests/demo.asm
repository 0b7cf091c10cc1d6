; softkvm demo guest: `softkvm run --flat build/guests/demo.bin` (`make demo`).
; Entered in 64-bit mode with identity paging at 0x10000 (src/vmm/x86_setup.h).
; Prints a banner, the first 20 Fibonacci numbers and the primes below 100 on
; COM1, checks its own results, then HLT (exit status 0). A failed check
; writes 1 to the isa-debug-exit port (exit status 3).
; Uses only the first engine slice: MOV, ALU, INC/DEC, TEST, PUSH/POP,
; CALL/RET, Jcc/JMP, LEA, MOVZX, IN/OUT, MUL/DIV, HLT.
bits 64
org 0x10000

COM1        equ 0x3f8
COM1_LSR    equ COM1 + 5
LSR_THRE    equ 0x20
DEBUG_EXIT  equ 0xf4

start:
    lea rsi, [rel banner]
    call puts

    ; Fibonacci: F(0) .. F(19), and their sum in r14.
    lea rsi, [rel fib_label]
    call puts
    xor ebx, ebx            ; F(n)
    mov r12d, 1             ; F(n+1)
    mov r13d, 20            ; numbers left
    xor r14d, r14d          ; sum
.fib:
    mov rax, rbx
    add r14, rax
    call put_dec
    mov al, ' '
    call putc
    lea rax, [rbx + r12]    ; F(n+2)
    mov rbx, r12
    mov r12, rax
    dec r13d
    jnz .fib
    mov al, 10
    call putc

    ; Primes below 100 by trial division; their count in r15.
    lea rsi, [rel prime_label]
    call puts
    xor r15d, r15d
    mov ebx, 2              ; candidate
.candidate:
    mov ecx, 2              ; divisor
.divisor:
    mov eax, ecx
    mul ecx                 ; edx:eax = divisor^2
    cmp eax, ebx
    ja .is_prime            ; divisor^2 > candidate
    mov eax, ebx
    xor edx, edx
    div ecx
    test edx, edx
    jz .next                ; divisible: not a prime
    inc ecx
    jmp .divisor
.is_prime:
    inc r15d
    mov eax, ebx
    call put_dec
    mov al, ' '
    call putc
.next:
    inc ebx
    cmp ebx, 100
    jb .candidate
    mov al, 10
    call putc

    ; Self-check: sum F(0..19) = F(21) - 1 = 10945; 25 primes below 100.
    lea rsi, [rel sum_label]
    call puts
    mov rax, r14
    call put_dec
    lea rsi, [rel count_label]
    call puts
    mov eax, r15d
    call put_dec
    cmp r14, 10945
    jne fail
    cmp r15d, 25
    jne fail
    lea rsi, [rel ok_label]
    call puts
    hlt
    jmp $-1                 ; not reached: HLT ends the VM

fail:
    lea rsi, [rel fail_label]
    call puts
    mov al, 1
    out DEBUG_EXIT, al      ; exit status (1 << 1) | 1 = 3
    hlt

; putc: writes al to COM1 once the transmitter is empty. Preserves all.
putc:
    push rdx
    push rax
    mov dx, COM1_LSR
.wait:
    in al, dx
    test al, LSR_THRE
    jz .wait
    pop rax
    mov dx, COM1
    out dx, al
    pop rdx
    ret

; puts: writes the NUL-terminated string at rsi. Preserves all but rsi.
puts:
    push rax
.loop:
    movzx eax, byte [rsi]
    test al, al
    jz .done
    call putc
    inc rsi
    jmp .loop
.done:
    pop rax
    ret

; put_dec: writes rax in decimal. Preserves all.
put_dec:
    push rax
    push rbx
    push rcx
    push rdx
    mov ebx, 10
    xor ecx, ecx
.divide:
    xor edx, edx
    div rbx
    add edx, '0'
    push rdx
    inc ecx
    test rax, rax
    jnz .divide
.emit:
    pop rax
    call putc
    dec ecx
    jnz .emit
    pop rdx
    pop rcx
    pop rbx
    pop rax
    ret

banner:      db "softkvm demo guest: long mode, paging on", 10, 0
fib_label:   db "fibonacci: ", 0
prime_label: db "primes < 100: ", 0
sum_label:   db "sum of fibonacci = ", 0
count_label: db ", primes = ", 0
ok_label:    db ": ok", 10, 0
fail_label:  db ": WRONG", 10, 0

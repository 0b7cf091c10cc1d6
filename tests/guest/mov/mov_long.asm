; MOV in 64-bit mode: immediates of every width, 32-bit writes zero-extend,
; 8/16-bit writes merge, high-byte registers, REX byte registers, loads and
; stores. SDM Vol. 2B, MOV.
; mode: long
; expect: rax=0x00000000deadbeef rbx=0x1122334455667788 rcx=0x11223344556677aa
; expect: rdx=0x112233445566bbcc rsi=0x1122334455669977 rdi=0xffffffff80000000
; expect: r8=0x1122334455667788 r9=0x3344 r10=0x99 r11=0x0000000055667788
; expect: r15=0xffffffffffffffff
; expect-mem: 0x20000 = 88 77 66 55 44 33 22 11 ef be ad de cc bb
; expect-exit: hlt
bits 64
org 0x10000
  mov rbx, 0x1122334455667788
  mov rax, rbx
  mov eax, 0xdeadbeef          ; zero-extends into rax
  mov rcx, rbx
  mov cl, 0xaa                 ; merges
  mov rdx, rbx
  mov dx, 0x11cc
  mov dh, 0xbb                 ; high byte
  mov rsi, rbx
  mov si, 0x9977
  mov byte [rel scratch], 0x99
  mov r10b, [rel scratch]      ; r10 was 0: a byte load merges into zero
  mov r11d, ebx                ; zero-extends
  mov rdi, -0x80000000         ; sign-extended imm32
  mov [0x20000], rbx
  mov [0x20008], eax
  mov word [0x2000c], 0xbbcc
  mov r8, [0x20000]
  movzx r9d, word [0x20004]
  mov r15, -1
  hlt
scratch: db 0
